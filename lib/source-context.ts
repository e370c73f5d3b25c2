// What a stream hands its source function: `{ signal, lastEventId }`. The signal's
// AbortController (about 1 KiB with its listener) is made only if the source reads
// `signal`: a source that ends through the iterator protocol alone, like a hub
// subscription, never pays for one.

import type { SseSourceContext } from '../types/index.js'

/** The stream side of a context: it makes the controller on demand and aborts it at the end. */
export interface SignalOwner {
  signal (): AbortSignal
}

export class StreamSourceContext implements SseSourceContext {
  readonly lastEventId: string | undefined
  private readonly owner: SignalOwner

  constructor (owner: SignalOwner, lastEventId: string | undefined) {
    this.owner = owner
    this.lastEventId = lastEventId
  }

  get signal (): AbortSignal {
    return this.owner.signal()
  }
}

/**
 * Whether a context comes from the plugin's stream, which calls the source iterator's
 * `return()` the moment the stream ends (api.md rule 6), so a source that handles
 * `return()` need not also listen to the signal.
 */
export function returnsOnEnd (context: SseSourceContext): boolean {
  return context instanceof StreamSourceContext
}

/** Marks a source function that never finishes on its own (see `endless`). */
const kEndless = Symbol('fastify-typed-sse.endless')

/**
 * Marks a source function whose iterator never finishes on its own, like a hub
 * subscription: whenever it returns, the stream was cut, so the stream writes no end
 * marker (api.md rule 8) and the client reconnects.
 */
export function endless<Source extends (...args: any[]) => unknown> (source: Source): Source {
  return Object.assign(source, { [kEndless]: true })
}

export function isEndless (source: unknown): boolean {
  return typeof source === 'function' && (source as { [kEndless]?: boolean })[kEndless] === true
}
