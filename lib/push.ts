// Push delivery: how a source that can write to its stream directly (the hub) meets
// the stream, without either reaching into the other's state. A source that has a
// `[kPushable]` method is handed the stream's sink once, when the stream starts; the
// source may then write framed events through it whenever the sink is writable,
// instead of having each one pulled with next(). Pulling stays the way a source
// that is behind (catching up, or its socket full) reads.
//
// While a source pushes, nothing of the pull loop stays alive: the source answers the
// loop's next() with `PUSHING`, the loop stops, and the source calls the sink's pull()
// when it needs to be read again. An idle subscriber then holds no pending promise,
// no suspended async function and no closure.

/** The method a pushable source iterator has: it takes the sink and returns who to tell of a drain. */
export const kPushable = Symbol('fastify-typed-sse.pushable')

/** The value of the result with which a pushable source says it writes to the sink itself from now on. */
export const kPushing = Symbol('fastify-typed-sse.pushing')

/** The result of next() of a source that pushes from now on; the stream's pull loop stops at it. */
export const PUSHING: IteratorYieldResult<typeof kPushing> = Object.freeze({ value: kPushing, done: false })

/** What a stream offers a pushable source. */
export interface PushSink {
  /**
   * Writes `chunk` (`events` whole, already checked and framed events) now, after
   * anything the stream holds back, counting them as the stream's own. Writes nothing
   * and returns false when the stream has ended or waits for its socket to drain; the
   * source then reads through next() again from where that chunk began.
   */
  write (chunk: Buffer, events: number): boolean
  /** Whether write() would write now. */
  readonly writable: boolean
  /**
   * The source that answered next() with `PUSHING` stopped pushing (it fell behind, or
   * ended): the stream reads it through next() again. Nothing when the stream has ended
   * or is reading already.
   */
  pull (): void
}

/** What a pushable source gives back: the stream tells it when its socket drained. */
export interface PushListener {
  drained (): void
}

export interface Pushable {
  [kPushable] (sink: PushSink): PushListener
}

export function isPushable (iterator: object): iterator is Pushable {
  return typeof (iterator as Partial<Pushable>)[kPushable] === 'function'
}
