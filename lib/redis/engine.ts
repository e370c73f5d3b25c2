// The hub's engine on Redis Streams: one stream per topic holds its history (the
// resume points), one script appends and announces each event, and one
// subscription per topic per instance carries the live path. Continuity is the
// hub's: each live message names the event before it.

import type { EngineEntry, EnginePage, EngineListener, HubEngine } from '../hub/engine.js'
import { ZERO_ID } from '../hub/engine.js'
import { compareIds, isId } from '../hub/ids.js'
import { FST_SSE_HUB_UNAVAILABLE } from '../errors.js'
import { Deadline } from './deadline.js'
import { LiveChannels } from './live.js'
import { engineSettings, type RedisEngineOptions } from './options.js'
import { APPEND, READ } from './scripts.js'

type StreamEntry = [id: string, fields: string[]]

type ReadReply =
  | ['ok', StreamEntry[]]
  | ['trimmed' | 'gone']
  | ['miss', first: string, last: string]

const TRIMMED: EnginePage = { status: 'history-lost' }
const UNKNOWN: EnginePage = { status: 'unknown-id' }

export function redisEngine (options: RedisEngineOptions): HubEngine {
  const { client, prefix, history, maxAgeMs, idleTtlMs, publishTimeoutMs } = engineSettings(options)
  const deadline = new Deadline(client, publishTimeoutMs)
  const live = new LiveChannels(client)
  // The script's fixed arguments, as Redis receives them, made once.
  const historyArg = String(history)
  const idleTtlArg = String(idleTtlMs)
  const maxAgeArg = String(maxAgeMs ?? 0)
  let closed = false

  const ensureOpen = (what: string): void => {
    if (closed) throw new FST_SSE_HUB_UNAVAILABLE(`${what}: the engine is closed`)
  }

  return {
    // Not async: the hot path, one promise per publish.
    append (topic: string, body: string): Promise<string> {
      if (closed) return Promise.reject(new FST_SSE_HUB_UNAVAILABLE('publish: the engine is closed'))
      const name = prefix + topic
      // The key may get the client's keyPrefix; the channel is sent as it is.
      return deadline.call('publish', () =>
        APPEND.run(client, name, [body, historyArg, idleTtlArg, maxAgeArg, name]) as Promise<string>)
    },

    async read (topic: string, afterId: string | undefined, limit: number): Promise<EnginePage> {
      ensureOpen('read')
      if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`read limit must be a positive integer, got ${String(limit)}`)
      if (afterId !== undefined && !isId(afterId)) return UNKNOWN
      const reply = await deadline.call('read', () =>
        READ.run(client, prefix + topic, [afterId ?? '', limit]) as Promise<ReadReply>)
      switch (reply[0]) {
        case 'ok': return { status: 'ok', entries: reply[1].map(toEntry) }
        case 'trimmed': return TRIMMED
        // The stream expired or Redis lost it: the topic had this id, the history no longer does.
        case 'gone': return TRIMMED
        case 'miss': {
          const [, first, last] = reply
          const id = afterId as string
          if (compareIds(id, last) > 0) return UNKNOWN // newer than anything published
          return compareIds(id, first) < 0 ? TRIMMED : UNKNOWN // trimmed, or inside the history but no event
        }
      }
    },

    async newest (topic: string): Promise<string> {
      ensureOpen('newest')
      const last = await deadline.call('newest', () => client.xrevrange(prefix + topic, '+', '-', 'COUNT', 1))
      return last[0]?.[0] ?? ZERO_ID
    },

    listen (topic: string, listener: EngineListener): () => void {
      ensureOpen('listen')
      return live.listen(prefix + topic, listener)
    },

    async close (): Promise<void> {
      if (closed) return
      closed = true
      deadline.close()
      await live.close()
    }
  }
}

function toEntry ([id, fields]: StreamEntry): EngineEntry {
  return { id, body: fields[1] ?? '' }
}
