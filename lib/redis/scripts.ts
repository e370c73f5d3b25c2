// The engine's Lua scripts, and how they run: EVALSHA, with EVAL when Redis does not
// have the script (first use, a restart, a failover, SCRIPT FLUSH). Sent as plain
// commands, so the user's client gets no commands defined on it.
//
// Resending a call that met NOSCRIPT must not put it behind later calls: those are
// already on their way (pipelined on the same connection) and would be stored first.
// So once one meets NOSCRIPT, the runner holds new calls until every call already
// sent has answered, resends the ones that met NOSCRIPT in the order they were first
// sent (as EVAL, which loads the script again), and then sends the held calls. (ioredis's
// defineCommand resends each one as its own NOSCRIPT comes back: the same reordering.)
// A call sent on a connection that then closed never answers (the engine's connection
// does not resend them; the deadline fails them) and can no longer run: a connection
// closing ends the wait for the calls sent before.

import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

export class LuaScript {
  readonly sha: string

  constructor (
    readonly source: string,
    /** Whether a run stores something: then no earlier run on its key may be stored after it. */
    readonly stores: boolean
  ) {
    this.sha = createHash('sha1').update(source).digest('hex')
  }
}

type Args = readonly (string | number)[]

/** A call that met NOSCRIPT, to resend once every call sent before it has answered. */
interface Unanswered {
  readonly script: LuaScript
  readonly keys: readonly string[]
  readonly args: Args
  /** Its place in the order calls were sent. */
  readonly sent: number
  readonly resolve: (reply: unknown) => void
  readonly reject: (err: unknown) => void
}

/** What happened since a call met NOSCRIPT, until every call sent by then has answered. */
class Recovery {
  readonly unanswered: Unanswered[] = []
  readonly held: Array<() => void> = []
  /** Per key, the latest storing call (by send order) that Redis ran meanwhile. */
  readonly ranLast = new Map<string, number>()
}

/** The calls sent since the client's last connection closed, not answered yet. */
interface Connection { inFlight: number }

/** Runs the engine's scripts on one client (a Redis or a Cluster), keeping each key's calls in the order they were made. */
export class ScriptRunner {
  private sentCount = 0
  private connection: Connection = { inFlight: 0 }
  private recovery: Recovery | undefined

  constructor (private readonly client: Redis | Cluster) {
    const closed = (): void => {
      this.connection = { inFlight: 0 }
      this.resumeWhenAnswered()
    }
    if ('nodes' in client) {
      // A cluster's node connections: one closing ends the wait (for all keys, to keep this simple and rare).
      client.on('+node', (node: Redis) => { node.on('close', closed) })
    } else {
      client.on('close', closed)
    }
  }

  /** Runs the script with these keys (on a cluster, all of one slot). */
  run (script: LuaScript, keys: readonly string[], args: Args): Promise<unknown> {
    const recovery = this.recovery
    if (recovery === undefined) return this.send(script, keys, args, false)
    return new Promise((resolve, reject) => {
      recovery.held.push(() => { this.send(script, keys, args, false).then(resolve, reject) })
    })
  }

  private send (script: LuaScript, keys: readonly string[], args: Args, withSource: boolean): Promise<unknown> {
    const sent = ++this.sentCount
    const connection = this.connection
    connection.inFlight++
    const reply = withSource
      ? this.client.eval(script.source, keys.length, ...keys, ...args)
      : this.client.evalsha(script.sha, keys.length, ...keys, ...args)
    return reply.then((value) => {
      connection.inFlight--
      if (this.recovery !== undefined) {
        const ran = this.recovery.ranLast
        if (script.stores) for (const key of keys) if ((ran.get(key) ?? 0) < sent) ran.set(key, sent)
        this.resumeWhenAnswered()
      }
      return value
    }, (err: unknown) => {
      connection.inFlight--
      if (withSource || !(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) {
        this.resumeWhenAnswered()
        throw err
      }
      const recovery = this.recovery ??= new Recovery()
      const resent = new Promise((resolve, reject) => {
        recovery.unanswered.push({ script, keys, args, sent, resolve, reject })
      })
      this.resumeWhenAnswered()
      return resent
    })
  }

  /** Once every call sent before the recovery has answered: resend, then release the held calls, in order. */
  private resumeWhenAnswered (): void {
    const recovery = this.recovery
    if (recovery === undefined || this.connection.inFlight > 0) return
    this.recovery = undefined
    recovery.unanswered.sort((a, b) => a.sent - b.sent)
    for (const call of recovery.unanswered) {
      if (call.keys.some(key => (recovery.ranLast.get(key) ?? 0) > call.sent)) {
        // A later call on this key ran first (another client had loaded the script again):
        // resending this one would store it after that one. It fails instead, never stored.
        call.reject(new Error('NOSCRIPT Redis lost the script, and a later call on the same key ran before this one could be resent; not resent'))
        continue
      }
      this.send(call.script, call.keys, call.args, true).then(call.resolve, call.reject)
    }
    for (const send of recovery.held) send()
  }
}

/**
 * Appends events and announces each, every one as one step: the appends one turn
 * of the event loop made (on a cluster, those of one partition, whose keys share a
 * slot), in the order they were made. KEYS: each append's stream (a key repeats
 * when its topic got several events). ARGV: history, idleTtlMs, maxAgeMs (0: none),
 * the publishing command (PUBLISH, or SPUBLISH on a cluster, where the channel shares
 * the key's hash tag), the time (ms, Redis's clock) after which the appends are
 * refused (their callers were told they failed); then per append: body, channel, a
 * head for the message (the topic, on a cluster's partition channel; else empty) and
 * the event's tag.
 *
 * An entry's one field is named by its tag and holds the body (entries written
 * before tags have the field `b`: no tag). The hub's id of an entry is
 * `<stream id>-<tag>`: a promoted replica that lost the tail, or another dataset,
 * may give the same stream id to another event, never with the same tag. Each
 * append publishes `<head><id>\n<previous id>\n<body>`, where the previous id is
 * the stream's last entry before it ('0-0' when the stream is new: nothing else ever
 * empties it, as trimming keeps at least the entry just added).
 *
 * Returns one string per append: its hub id, or '!' and the error of an append
 * Redis refused (a key that is not a stream, no memory left), which stores nothing
 * of that append and does not stop the others.
 */
export const APPEND = new LuaScript(`
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[5]) then
  return redis.error_reply('EXPIRED the publish reached Redis after its deadline; nothing was stored')
end
local history, ttl, maxAge, command = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local newest = {}
local ids = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local a = 5 + (i - 1) * 4
  local body, channel, head, tag = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local previous = newest[key]
  if previous == nil then
    previous = '0-0'
    local last = redis.pcall('XREVRANGE', key, '+', '-', 'COUNT', 1)
    if last.err then
      previous = false
      ids[i] = '!' .. last.err
    elseif last[1] then
      previous = last[1][1]
      if last[1][2][1] ~= 'b' then previous = previous .. '-' .. last[1][2][1] end
    end
  end
  if previous then
    local id = redis.pcall('XADD', key, 'MAXLEN', '~', history, '*', tag, body)
    if type(id) == 'table' then
      ids[i] = '!' .. id.err
    else
      if maxAge > 0 then
        local ms = tonumber(string.match(id, '^%d+'))
        if ms > maxAge then redis.call('XTRIM', key, 'MINID', '~', string.format('%.0f', ms - maxAge)) end
      end
      if newest[key] == nil then redis.call('PEXPIRE', key, ttl) end
      id = id .. '-' .. tag
      newest[key] = id
      redis.call(command, channel, head .. id .. '\\n' .. previous .. '\\n' .. body)
      ids[i] = id
    end
  end
end
return ids
`, true)

/**
 * One page of history after an id, and whether the id is a resume point, in one
 * atomic look, for the ids a plain XRANGE did not prove (the engine reads from the
 * oldest entry, and pages after a proven id, without it). KEYS[1]: the stream; ARGV:
 * after (a stream id), the tag the id carried ('' for none: position only), limit. Replies:
 * - {'ok', entries}: the page (entries are {id, {tag, body}});
 * - {'trimmed'}: after is '0-0' but the stream no longer starts at its first entry;
 * - {'gone'}: no stream (never written, expired, or lost by Redis);
 * - {'other'}: an entry has this stream id, but not this tag: another history's event;
 * - {'miss', first, last}: after is no entry; the kept range, for the caller to place it.
 * An inclusive XRANGE from the id both proves it is an entry and returns the page.
 */
export const READ = new LuaScript(`
local key, after, tag, limit = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
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
  local stored = page[1][2][1]
  if tag ~= '' and stored ~= tag then return {'other'} end
  table.remove(page, 1)
  return {'ok', page}
end
local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
if not first[1] then return {'gone'} end
local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
return {'miss', first[1][1], last[1][1]}
`, false)
