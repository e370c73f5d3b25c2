// One subscriber: a cursor over its topic's window of frames. It yields the very
// FramedEvent objects of the window (no copy, no queue, no JSON per subscriber);
// one that falls behind the window, or resumes from an older id, reads pages from
// the engine after its last delivered id and rejoins the window at the seam.
// Where its position cannot be proven it yields one `reset`.
//
// Streamed by the plugin, a cursor is also pushable (push.ts): once it is live, caught
// up and its stream writable, it joins its topic's push set, answers the stream's
// next() with `PUSHING` (the stream's pull loop stops: nothing is pending), and the
// topic writes each tick's frames to its stream directly. When the stream cannot take
// a batch, the cursor leaves the set at the first frame of that batch, asks the stream
// to pull again, and reads on through next() until it is back at the seam.
//
// Hand-written rather than an async generator: a generator cannot be ended while
// it awaits, and would need a closure and a queue per subscriber.

import { FramedEvent } from '../encode.js'
import { FST_SSE_HUB_UNAVAILABLE } from '../errors.js'
import { PUSHING, kPushable, type PushListener, type PushSink } from '../push.js'
import { positionLine } from '../wire.js'
import type { EngineEntry, HubEngine } from './engine.js'
import { compareIds, isId } from './ids.js'
import { PAGE_SIZE, frame, resetFrame, type Topic, type TopicPusher, type TopicReader } from './topic.js'

export interface CursorSettings {
  readonly from: 'now' | 'earliest'
  readonly onGap: 'reset' | 'end'
  /** Where to resume: the option, else the request's Last-Event-ID. */
  readonly resumeId: string | undefined
}

/** Called when a cursor ends, so that its topic stops once nobody reads it. */
export type Release = (cursor: Cursor, topic: Topic) => void

enum State { Starting, Live, Pushing, CatchingUp, Busy, Ending, Done }

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true }
const DONE_PROMISE: Promise<IteratorReturnResult<undefined>> = Promise.resolve(DONE)
/** What next() of a cursor that pushes gives: the stream's pull loop stops (the stream, never other code, gets it). */
const PUSHING_RESULT = PUSHING as unknown as IteratorYieldResult<FramedEvent>
const PUSHING_PROMISE = Promise.resolve(PUSHING_RESULT)
/** How soon an open subscription reads the history again after the engine failed to answer. */
const FETCH_RETRY_MS = 500

export class Cursor implements AsyncIterator<FramedEvent, undefined>, AsyncIterable<FramedEvent>, TopicReader, TopicPusher, PushListener {
  private readonly topic: Topic
  private readonly engine: HubEngine
  private readonly settings: CursorSettings
  private readonly release: Release
  private readonly signal: AbortSignal | undefined
  private state = State.Starting
  /** The stream to push to, when the plugin streams this cursor (never set for other code iterating it). */
  sink: PushSink | undefined
  /** The number of the next window frame to yield. */
  private position = 0
  /** The id of the last event yielded; the resume point of a catch-up. */
  private lastId: string | undefined
  /** A page of history being yielded while catching up. */
  private page: readonly EngineEntry[] | undefined
  private pageIndex = 0
  /** The engine had events the window has not yet: skip window frames up to this id. */
  private skipThrough: string | undefined
  /** One item to yield before anything else: the position, or a reset. */
  private queued: FramedEvent | undefined
  /**
   * The subscription has reached the engine once: from then on its stream is open, and
   * a history read the engine could not answer is tried again (the heartbeat goes on
   * meanwhile) rather than ending the stream (hub.md, Delivery). Only a new
   * subscription ends with the failure event.
   */
  private established = false
  private retryTimer: NodeJS.Timeout | undefined
  private resolve: Settle | undefined
  private reject: ((err: unknown) => void) | undefined

  constructor (topic: Topic, engine: HubEngine, settings: CursorSettings, release: Release, signal: AbortSignal | undefined) {
    this.topic = topic
    this.engine = engine
    this.settings = settings
    this.release = release
    this.signal = signal
    topic.readers.add(this)
    if (signal?.aborted === true) this.finish()
    else signal?.addEventListener('abort', this, { once: true })
  }

  [Symbol.asyncIterator] (): this {
    return this
  }

  /** The plugin's stream offers itself to push to, once. */
  [kPushable] (sink: PushSink): PushListener {
    this.sink = sink
    return this
  }

  next (): Promise<IteratorResult<FramedEvent, undefined>> {
    if (this.state === State.Done) return DONE_PROMISE
    if (this.resolve !== undefined) return Promise.reject(new Error('a hub subscription is read one next() at a time'))
    if (this.state === State.Pushing || (this.state === State.Live && this.join())) return PUSHING_PROMISE
    const result = this.step()
    if (result !== undefined) return Promise.resolve(result)
    capturing = this
    const pending = new Promise(captureSettlers)
    capturing = undefined
    this.waitForFrame()
    return pending
  }

  /** The settlers of the pending next() (see captureSettlers). */
  hold (resolve: Settle, reject: (err: unknown) => void): void {
    this.resolve = resolve
    this.reject = reject
  }

  async return (): Promise<IteratorReturnResult<undefined>> {
    this.finish()
    return DONE
  }

  /** The signal aborted (the cursor is its own listener: no closure per subscriber). */
  handleEvent (): void {
    this.finish()
  }

  /** The topic has a new frame: a cursor waiting for one takes it, or joins the push set. */
  wake (): void {
    this.topic.waiters.delete(this)
    if (this.resolve === undefined || this.state !== State.Live) return
    // A full socket: wait for drained(), pulling nothing meanwhile.
    if (this.sink !== undefined && !this.sink.writable) return
    this.resume()
  }

  /** The stream's socket drained: a cursor that stopped for it reads on. */
  drained (): void {
    if (this.state === State.Live) this.resume()
  }

  /** The stream took nothing of a batch starting at frame `from`: read it through next(). */
  fellBehind (from: number, fromId: string): void {
    this.topic.pushers.delete(this)
    if (this.state !== State.Pushing) return
    this.state = State.Live
    this.position = from
    this.lastId = fromId
    // The stream reads it again once its socket drained (or ends it, when it has ended).
    this.sink?.pull()
  }

  /** The hub closes. */
  end (): void {
    this.finish()
  }

  /** The next result if it is at hand; otherwise undefined, and a wake-up or a read is on its way. */
  private step (): IteratorResult<FramedEvent, undefined> | undefined {
    const queued = this.queued
    if (queued !== undefined) {
      this.queued = undefined
      return { value: queued, done: false }
    }
    switch (this.state) {
      case State.Ending:
        this.finish()
        return DONE
      case State.Live: return this.fromWindow()
      case State.CatchingUp: return this.fromPage()
      case State.Starting:
        this.state = State.Busy
        this.begin().catch((err: unknown) => this.fail(err))
        return undefined
      default: return this.state === State.Done ? DONE : undefined
    }
  }

  /**
   * Joins the push set if it can: its stream is writable, it has nothing of its own to
   * yield first, and its next frame is the first the topic has not yet pushed, or it is
   * behind that but the window still has every frame it missed: those go out in one
   * write, and it joins at the seam.
   */
  private join (): boolean {
    const sink = this.sink
    const topic = this.topic
    if (sink === undefined || !sink.writable || this.queued !== undefined || this.skipThrough !== undefined) return false
    const from = this.position
    const to = topic.pushFrom
    if (from !== to) {
      if (from > to || topic.count - from > topic.capacity) return false
      let text = ''
      for (let n = from; n < to; n++) text += topic.frameAt(n).text
      if (!sink.write(Buffer.from(text), to - from)) return false
      this.position = to
      this.lastId = topic.pushFromId
    }
    this.startPushing()
    return true
  }

  private startPushing (): void {
    this.state = State.Pushing
    this.topic.waiters.delete(this)
    this.topic.pushers.add(this)
  }

  /** Live with a next() pending and nothing to yield: the topic wakes it at the next frame. */
  private waitForFrame (): void {
    if (this.state === State.Live) this.topic.waiters.add(this)
  }

  private fromWindow (): IteratorResult<FramedEvent, undefined> | undefined {
    const topic = this.topic
    while (this.position < topic.count) {
      if (topic.count - this.position > topic.capacity) {
        // Fell behind: the frames it has not seen were overwritten. The history has them.
        this.fetch()
        return undefined
      }
      const framed = topic.frameAt(this.position++)
      if (this.skipThrough !== undefined) {
        if (compareIds(framed.id, this.skipThrough) <= 0) continue
        this.skipThrough = undefined
      }
      this.lastId = framed.id
      return { value: framed, done: false }
    }
    return undefined
  }

  private fromPage (): IteratorResult<FramedEvent, undefined> | undefined {
    const page = this.page as readonly EngineEntry[]
    if (this.pageIndex < page.length) {
      const entry = page[this.pageIndex++] as EngineEntry
      this.lastId = entry.id
      return { value: frame(entry.id, entry.body), done: false }
    }
    this.page = undefined
    // A short page was the end of the history: the window takes over. A full one: read on.
    if (page.length < PAGE_SIZE) return this.rejoin(false)
    this.fetch()
    return undefined
  }

  private async begin (): Promise<void> {
    await this.topic.ready
    if (this.state === State.Done) return
    const topic = this.topic
    const { resumeId, from } = this.settings
    if (resumeId === undefined) {
      if (from === 'now') {
        // The position item: a client that drops before its first event resumes from here.
        this.queued = new FramedEvent(positionLine(topic.lastId), topic.lastId)
        this.live(topic.count, topic.lastId)
      } else {
        this.fetch()
        return
      }
    } else if (!isId(resumeId)) {
      this.gap('unknown-id')
    } else if (resumeId === topic.lastId) {
      // The topic's own position: nothing came after it, so nothing can be missing.
      this.live(topic.count, resumeId)
    } else {
      // Even when the window still has the id, the history decides whether it is a resume
      // point, so that every instance gives the same answer.
      this.lastId = resumeId
      this.fetch()
      return
    }
    this.resume()
  }

  /** Reads the next page of history after the last delivered id (from the oldest when none). */
  private fetch (): void {
    this.state = State.Busy
    const topic = this.topic
    // For a subscription from the earliest event of an empty history: where the window stood.
    const countBefore = topic.count
    const idBefore = topic.lastId
    this.engine.read(topic.name, this.lastId, PAGE_SIZE).then((page) => {
      if (this.state === State.Done) return
      this.established = true
      if (page.status !== 'ok') {
        this.gap(page.status)
      } else if (page.entries.length > 0) {
        this.page = page.entries
        this.pageIndex = 0
        this.state = State.CatchingUp
      } else if (this.lastId === undefined) {
        this.queued = new FramedEvent(positionLine(idBefore), idBefore)
        this.live(countBefore, idBefore)
      } else {
        const result = this.rejoin(true)
        if (result !== undefined) {
          this.settle(result)
          return
        }
      }
      this.resume()
    }, (err: unknown) => {
      if (this.state === State.Done) return
      if (!this.established || !(err instanceof FST_SSE_HUB_UNAVAILABLE)) {
        this.fail(err)
        return
      }
      // The engine out of reach: read again from the last id a little later.
      this.retryTimer = setTimeout(retryFetch, FETCH_RETRY_MS, this)
      this.retryTimer.unref()
    })
  }

  /** The retry after a history read failed. */
  retryFetch (): void {
    this.retryTimer = undefined
    if (this.state !== State.Done) this.fetch()
  }

  /**
   * The history has nothing more after the last delivered id (a short page, or an empty
   * one): continue in the window right after it.
   */
  private rejoin (afterEmptyPage: boolean): IteratorResult<FramedEvent, undefined> | undefined {
    const topic = this.topic
    const lastId = this.lastId as string
    if (lastId === topic.lastId) {
      this.live(topic.count, lastId)
    } else {
      const n = topic.find(lastId)
      if (n >= 0) {
        this.live(n + 1, lastId)
      } else if (compareIds(lastId, topic.lastId) > 0) {
        // The engine is ahead of the live channel: those events reach the window soon; skip them there.
        this.live(topic.count, lastId)
        this.skipThrough = lastId
      } else if (afterEmptyPage) {
        // The history has nothing after it, yet the window has moved on without it: the
        // engine and the live channel disagree, and continuity cannot be proven.
        this.gap('history-lost')
        return this.step()
      } else {
        // The window moved past it while the page was being read: read on from the history.
        this.fetch()
        return undefined
      }
    }
    return this.fromWindow()
  }

  private live (position: number, lastId: string): void {
    this.established = true
    this.state = State.Live
    this.position = position
    this.lastId = lastId
  }

  /** The resume point is gone: one reset to the current position, then live (or the end). */
  private gap (reason: 'unknown-id' | 'history-lost'): void {
    const topic = this.topic
    this.page = undefined
    this.skipThrough = undefined
    this.queued = resetFrame(topic.lastId, reason)
    this.live(topic.count, topic.lastId)
    if (this.settings.onGap === 'end') this.state = State.Ending
  }

  /**
   * After an asynchronous step, a new frame or a drain: join the push set if it can,
   * else hand the pending next() its result if there is one now, else wait for a frame.
   */
  private resume (): void {
    if (this.resolve === undefined) return
    if (this.state === State.Live && this.join()) {
      this.settle(PUSHING_RESULT)
      return
    }
    const result = this.step()
    if (result !== undefined) this.settle(result)
    else this.waitForFrame()
  }

  private settle (result: IteratorResult<FramedEvent, undefined>): void {
    this.topic.waiters.delete(this)
    const resolve = this.resolve
    this.resolve = undefined
    this.reject = undefined
    resolve?.(result)
  }

  private fail (err: unknown): void {
    if (this.state === State.Done) return
    const reject = this.reject
    this.resolve = undefined
    this.reject = undefined
    this.finish()
    // The engine out of reach is something the client may be told.
    if (err instanceof FST_SSE_HUB_UNAVAILABLE && (err as { expose?: boolean }).expose === undefined) {
      (err as { expose?: boolean }).expose = true
    }
    reject?.(err)
  }

  private finish (): void {
    if (this.state === State.Done) return
    this.state = State.Done
    clearTimeout(this.retryTimer)
    this.page = undefined
    this.queued = undefined
    const sink = this.sink
    this.sink = undefined
    this.topic.waiters.delete(this)
    this.topic.pushers.delete(this)
    this.signal?.removeEventListener('abort', this)
    this.release(this, this.topic)
    this.settle(DONE)
    // A stream that stopped pulling while this cursor pushed reads the end now.
    sink?.pull()
  }
}

type Settle = (result: IteratorResult<FramedEvent, undefined>) => void

/**
 * The cursor whose next() is making its pending promise. The executor runs inside
 * `new Promise`, synchronously, so one function serves every cursor: no closure per
 * subscriber.
 */
let capturing: Cursor | undefined

function captureSettlers (resolve: Settle, reject: (err: unknown) => void): void {
  (capturing as Cursor).hold(resolve, reject)
}

function retryFetch (cursor: Cursor): void {
  cursor.retryFetch()
}
