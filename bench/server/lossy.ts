// Live messages thrown away on purpose (hub-redis): a share of the PUB/SUB messages an
// ioredis subscriber connection receives never reach its listeners, as when Redis
// disconnects a slow subscriber or a network hiccup loses them. Bench-side only: the
// product code is the same code users run.

import type Redis from 'ioredis'

const STRING_EVENTS = new Set(['message', 'pmessage', 'smessage'])
const BUFFER_EVENTS = new Set(['messageBuffer', 'pmessageBuffer', 'smessageBuffer'])

/**
 * Drops a share of the live messages of `redis`, chosen by a pseudo-random sequence with
 * a fixed seed: the same messages in every run, and no pattern that keeps hitting the
 * same topic (a drop every n-th message would, with topics published round-robin).
 * ioredis emits each message as a string event (when someone listens) and then as a
 * Buffer event; both of one message are dropped together.
 */
export function dropLiveMessages (redis: Redis, share: number): void {
  if (!(share > 0)) return
  if (share > 1) throw new Error(`the share of dropped messages is at most 1, not ${share}`)
  const threshold = share * 2 ** 32
  let state = 0x9e3779b9
  /** xorshift32: the next number of the sequence, in [0, 2^32) */
  const next = (): number => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return state >>> 0
  }
  let dropping = next() < threshold
  const emit = redis.emit.bind(redis)
  redis.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (typeof event === 'string') {
      // The string event comes first; the Buffer event ends the message and draws for the next one.
      if (STRING_EVENTS.has(event) && dropping) return false
      if (BUFFER_EVENTS.has(event)) {
        const drop = dropping
        dropping = next() < threshold
        if (drop) return false
      }
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
