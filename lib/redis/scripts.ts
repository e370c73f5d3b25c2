// The engine's Lua scripts, and how they run: EVALSHA, with EVAL once when Redis
// does not have the script (first use, or after a restart). Sent as plain
// commands, so the user's client gets no commands defined on it.

import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

export class LuaScript {
  private readonly sha: string

  constructor (private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  /** Runs the script with one key. */
  async run (client: Redis | Cluster, key: string, args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, 1, key, ...args)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return await client.eval(this.source, 1, key, ...args)
    }
  }
}

/**
 * Appends one event and announces it, as one step. KEYS[1]: the topic's stream;
 * ARGV: body, history, idleTtlMs, maxAgeMs (0: none), channel, the publishing
 * command (PUBLISH, or SPUBLISH on a cluster, where the channel shares the key's
 * hash tag), and a head for the message (the topic, on a cluster's partition
 * channel; else empty), and the time (ms, Redis's clock) after which the append is
 * refused (the caller was told it failed). Publishes `<head><id>\n<previous id>\n<body>`, where the
 * previous id is the stream's last entry
 * before this one ('0-0' when the stream is new: nothing else ever empties it,
 * as trimming keeps at least the entry just added). Returns the new id.
 */
export const APPEND = new LuaScript(`
local key = KEYS[1]
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[8]) then
  return redis.error_reply('EXPIRED the publish reached Redis after its deadline; nothing was stored')
end
local previous = '0-0'
local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
if last[1] then previous = last[1][1] end
local id = redis.call('XADD', key, 'MAXLEN', '~', ARGV[2], '*', 'b', ARGV[1])
local maxAge = tonumber(ARGV[4])
if maxAge > 0 then
  local ms = tonumber(string.match(id, '^%d+'))
  if ms > maxAge then redis.call('XTRIM', key, 'MINID', '~', string.format('%.0f', ms - maxAge)) end
end
redis.call('PEXPIRE', key, ARGV[3])
redis.call(ARGV[6], ARGV[5], ARGV[7] .. id .. '\\n' .. previous .. '\\n' .. ARGV[1])
return id
`)

/**
 * One page of history after an id, and whether the id is a resume point, in one
 * atomic look. KEYS[1]: the stream; ARGV: after ('' for the oldest kept entry),
 * limit. Replies:
 * - {'ok', entries}: the page (entries are {id, {'b', body}});
 * - {'trimmed'}: after is '0-0' but the stream no longer starts at its first entry;
 * - {'gone'}: no stream (never written, expired, or lost by Redis);
 * - {'miss', first, last}: after is no entry; the kept range, for the caller to place it.
 * An inclusive XRANGE from the id both proves it is an entry and returns the page.
 */
export const READ = new LuaScript(`
local key, after, limit = KEYS[1], ARGV[1], tonumber(ARGV[2])
if after == '' then
  return {'ok', redis.call('XRANGE', key, '-', '+', 'COUNT', limit)}
end
if after == '0-0' then
  if redis.call('EXISTS', key) == 0 then return {'ok', {}} end
  local info = redis.call('XINFO', 'STREAM', key)
  local length, added
  for i = 1, #info, 2 do
    if info[i] == 'length' then length = info[i + 1] elseif info[i] == 'entries-added' then added = info[i + 1] end
  end
  if length ~= added then return {'trimmed'} end
  return {'ok', redis.call('XRANGE', key, '-', '+', 'COUNT', limit)}
end
local page = redis.call('XRANGE', key, after, '+', 'COUNT', limit + 1)
if page[1] and page[1][1] == after then
  table.remove(page, 1)
  return {'ok', page}
end
local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
if not first[1] then return {'gone'} end
local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
return {'miss', first[1][1], last[1][1]}
`)
