// When and how soon a stream reconnects: the spec's rule (wait the server's
// reconnection time, `retry:`), doubled per failed attempt in a row, capped, with
// jitter so that the clients of a restarted server do not all come back at once.

import type { SseReconnectOptions } from './types.js'

export interface ReconnectPolicy {
  /** Failed attempts in a row allowed before the last error is thrown. */
  readonly retries: number
  /** The wait before the server has sent `retry:` (ms). */
  readonly delay: number
  readonly maxDelay: number
}

const DEFAULTS: ReconnectPolicy = { retries: Infinity, delay: 1000, maxDelay: 30_000 }

/** Where the doubling starts after a failure, so that after `retry: 0` failed attempts still back off. */
const MIN_BACKOFF = 10

/** The policy for these options, or `undefined` when the stream must not reconnect. Throws TypeError for bad options. */
export function reconnectPolicy (reconnect: boolean | SseReconnectOptions | undefined, method: string): ReconnectPolicy | undefined {
  if (reconnect === undefined) return method === 'GET' ? DEFAULTS : undefined
  if (reconnect === false) return undefined
  if (reconnect === true) return DEFAULTS
  const { retries = DEFAULTS.retries, delay = DEFAULTS.delay, maxDelay = DEFAULTS.maxDelay } = reconnect ?? {}
  // NaN, negative numbers and non-numbers all fail `>= 0`; only retries may be Infinity.
  if (typeof reconnect !== 'object' || reconnect === null || !(retries >= 0 && delay >= 0 && maxDelay >= 0 && delay + maxDelay < Infinity)) {
    throw new TypeError('reconnect must be a boolean or { retries?, delay?, maxDelay? } of non-negative numbers')
  }
  return { retries, delay, maxDelay }
}

/**
 * The wait before the next attempt: `base` (the server's `retry`, else the policy's
 * delay) after `failures` failed attempts in a row, doubled per failure, plus up to a
 * quarter of jitter, never over `maxDelay`, and never under the server's own `retry`.
 */
export function reconnectDelay (base: number, failures: number, maxDelay: number, random = Math.random()): number {
  const cap = Math.max(maxDelay, base)
  const start = failures === 0 ? base : Math.max(base, MIN_BACKOFF)
  return Math.min(cap, start * 2 ** failures * (1 + random / 4))
}
