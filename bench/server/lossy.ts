// Live messages thrown away on purpose (hub-redis): a share of the PUB/SUB messages an
// ioredis subscriber connection receives never reach its listeners, as when Redis
// disconnects a slow subscriber or a network hiccup loses them. Bench-side only: the
// product code is the same code users run.

import type Redis from 'ioredis'

const STRING_EVENTS = new Set(['message', 'pmessage', 'smessage'])
const BUFFER_EVENTS = new Set(['messageBuffer', 'pmessageBuffer', 'smessageBuffer'])

/**
 * Drops every `1 / share`-th live message of `redis` (deterministic, so runs compare).
 * ioredis emits each message as a string event (when someone listens) and then as a
 * Buffer event; both of one message are dropped together.
 */
export function dropLiveMessages (redis: Redis, share: number): void {
  if (!(share > 0)) return
  if (share > 1) throw new Error(`the share of dropped messages is at most 1, not ${share}`)
  const every = Math.round(1 / share)
  let received = 0
  const emit = redis.emit.bind(redis)
  redis.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (typeof event === 'string') {
      // The string event comes first: it belongs to the message the Buffer event then counts.
      if (STRING_EVENTS.has(event) && (received + 1) % every === 0) return false
      if (BUFFER_EVENTS.has(event) && ++received % every === 0) return false
    }
    return emit(event, ...args)
  }
}

/** Every connection `client.duplicate()` makes (an engine's subscriber connection) drops `share` of its live messages. */
export function dropLiveMessagesOfDuplicates (client: Redis, share: number): void {
  const duplicate = client.duplicate.bind(client)
  client.duplicate = ((...args: Parameters<Redis['duplicate']>) => {
    const connection = duplicate(...args)
    dropLiveMessages(connection, share)
    return connection
  }) as Redis['duplicate']
}
