// When and how soon a stream reconnects: the spec's rule (wait the server's
// reconnection time, `retry:`), doubled per failed attempt in a row, capped, with
// jitter so that the clients of a restarted server do not all come back at once.

import { isObject } from './decode.js'
import type { SseReconnectOptions } from './types.js'

export interface ReconnectPolicy {
  /** Failed attempts in a row allowed before the last error is thrown. */
  readonly retries: number
  /** The wait before the server has sent `retry:` (ms). */
  readonly delay: number
  readonly maxDelay: number
}

/** The policy for these options, or `undefined` when the stream must not reconnect. Throws TypeError for bad options. */
export function reconnectPolicy (reconnect: boolean | SseReconnectOptions | undefined, method: string): ReconnectPolicy | undefined {
  if (reconnect === undefined) reconnect = method === 'GET'
  if (reconnect === false) return undefined
  const options = reconnect === true ? {} : reconnect
  const { retries = Infinity, delay = 1000, maxDelay = 30_000 } = options ?? {}
  // NaN, negative numbers and non-numbers all fail `>= 0`; only retries may be Infinity.
  if (!isObject(options) || !(Math.min(retries, delay, maxDelay) >= 0 && delay + maxDelay < Infinity)) {
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
  // After a failure the doubling starts at 10 ms at least, so that after `retry: 0` failed attempts still back off.
  const start = Math.max(base, failures && 10)
  return Math.min(Math.max(maxDelay, base), start * 2 ** failures * (1 + random / 4))
}
