// One topic on this instance: it listens to the engine once, proves continuity on
// every live entry (its previousId must be the last id the topic has), frames each
// event once into a bounded window of recent frames, and wakes the cursors
// reading it. A break (a dropped live message, a resync) is filled from the
// engine's history in pages before any later event; a history that no longer has
// the topic's last id puts one framed `reset` into the window.

import { FramedEvent } from '../encode.js'
import type { PushSink } from '../push.js'
import type { EngineListener, HubEngine, LiveEntry } from './engine.js'
import { compareIds } from './ids.js'

/** Events read from the engine per page, when filling a break or catching a cursor up. */
export const PAGE_SIZE = 500

/** What a topic needs of a cursor reading it. */
export interface TopicReader {
  /** A frame was added to the window, and the reader waits for one (it is in `waiters`). */
  wake (): void
  /** The hub closes: end now. */
  end (): void
}

/** A reader in the push set: live, caught up, and its stream writable. */
export interface TopicPusher {
  readonly sink: PushSink | undefined
  /**
   * Its stream took nothing of a batch: it leaves the push set and reads through
   * next() again from frame `from` (the one after the event `fromId`).
   */
  fellBehind (from: number, fromId: string): void
}

/** Frames one stored event: its id line, then the body the hub serialized at publish. */
export function frame (id: string, body: string): FramedEvent {
  return new FramedEvent('id: ' + id + '\n' + body + '\n', id)
}

/** The framed `reset` event, with the position the client moves to. */
export function resetFrame (id: string, reason: 'unknown-id' | 'history-lost'): FramedEvent {
  return new FramedEvent('event: reset\nid: ' + id + '\ndata: {"reason":"' + reason + '"}\n\n', id)
}

const FILL_RETRY_MS = 500
/** A batch of frames for the push set is written at once when it grows this long (characters). */
const BATCH_LIMIT = 64 * 1024

export class Topic implements EngineListener {
  readonly name: string
  private readonly engine: HubEngine
  /** The window: frame number n is at ring[n % capacity] while n >= count - capacity. */
  private readonly ring: Array<FramedEvent | undefined>
  readonly capacity: number
  /** How many frames ever entered the window. */
  count = 0
  /** The id of the newest event the topic has delivered into its window (or its start position). */
  lastId = ''
  /** Resolves once the topic knows its position (the engine's newest id). */
  readonly ready: Promise<void>
  readonly readers = new Set<TopicReader>()
  /** Readers waiting in next() for the next frame (pulling). */
  waiters = new Set<TopicReader>()
  /** The other set of waiters: a woken reader that waits again goes into it, not into the one being woken. */
  private spareWaiters = new Set<TopicReader>()
  /** Readers the topic writes each batch to, in one loop (pushing). */
  readonly pushers = new Set<TopicPusher>()
  /**
   * The number of the first frame not yet written to the push set: frames from here to
   * `count` are in `batch`. A reader at exactly this frame may join the push set.
   */
  pushFrom = 0
  /** The id of the frame before `pushFrom` (the last id of a reader there). */
  pushFromId = ''
  /** The text of the frames of this tick, written to every pusher at its end in one write. */
  private batch = ''
  private batchEvents = 0
  private batchQueued = false
  private readonly stopListening: () => void
  private filling = true
  /** A resync came while the position was unknown or a fill was under way: fill again after it. */
  private resyncPending = false
  /** Live entries that came while the position was unknown or a break was being filled. */
  private buffered: LiveEntry[] = []
  /** Buffered entries were dropped (too many): fill again once the current fill is done. */
  private overflowed = false
  private retryTimer: NodeJS.Timeout | undefined
  private stopped = false
  /** A live entry came since the last tail check. */
  private heard = false

  constructor (name: string, engine: HubEngine, capacity: number) {
    this.name = name
    this.engine = engine
    this.capacity = capacity
    this.ring = new Array(capacity)
    // Listen first, then ask the position: entries between the two are buffered, not lost.
    this.stopListening = engine.listen(name, this)
    this.ready = engine.newest(name).then((id) => {
      this.lastId = id
      this.pushFromId = id
      this.drainBuffered()
    })
    this.ready.catch(() => {}) // the readers waiting on it get the failure
  }

  /** The frame numbered `n`, while still in the window. */
  frameAt (n: number): FramedEvent {
    return this.ring[n % this.capacity] as FramedEvent
  }

  /** The number of the window's frame with this id, or -1 (searched from the newest end). */
  find (id: string): number {
    for (let n = this.count - 1; n >= 0 && n >= this.count - this.capacity; n--) {
      if (this.frameAt(n).id === id) return n
    }
    return -1
  }

  entry (entry: LiveEntry): void {
    if (this.stopped) return
    this.heard = true
    if (this.filling) {
      this.buffer(entry)
    } else if (entry.previousId === this.lastId) {
      this.push(frame(entry.id, entry.body))
    } else if (compareIds(entry.id, this.lastId) > 0) {
      // A break: what came between is in the history, and comes first.
      this.buffer(entry)
      this.fill()
    } else if (entry.id !== this.lastId && this.find(entry.id) < 0) {
      // Not past our position, yet no event we delivered: the engine's history is another
      // one now (a promoted replica lost the tail and reissues its positions). The fill
      // finds our last id missing there and says so with a reset.
      this.buffer(entry)
      this.fill()
    } // else: already delivered (a duplicate notification)
  }

  resync (): void {
    if (this.stopped) return
    if (this.filling) this.resyncPending = true
    else this.fill()
  }

  /**
   * A dropped live message shows as a break at the next one; a topic that went quiet
   * after it would never see that. So a quiet topic asks the engine for its newest id
   * now and then, and fills from the history when the engine has more than it, or when
   * the engine's newest is no event it delivered (a lost tail, a replaced history).
   */
  checkTail (): void {
    if (this.stopped || this.filling) return
    if (this.heard) {
      this.heard = false
      return
    }
    this.engine.newest(this.name).then((newest) => {
      if (this.stopped || this.filling || newest === this.lastId) return
      // Ahead of us: missed events. Behind us and none we delivered: the history lost its tail.
      if (compareIds(newest, this.lastId) > 0 || this.find(newest) < 0) this.fill()
    }, () => {}) // unreachable now: the engine's resync comes when it is back
  }

  /** Stops listening; every reader is ended. */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    this.stopListening()
    clearTimeout(this.retryTimer)
    this.buffered = []
    // What the push set was due this tick still goes out, ahead of the streams' ends.
    this.flushBatch()
    for (const reader of this.readers) reader.end()
    this.readers.clear()
    this.waiters.clear()
    this.pushers.clear()
  }

  private buffer (entry: LiveEntry): void {
    if (this.buffered.length < PAGE_SIZE) {
      this.buffered.push(entry)
    } else {
      // The fill reads them from the history anyway; holding them all would be unbounded.
      this.buffered = []
      this.overflowed = true
    }
  }

  private push (framed: FramedEvent): void {
    this.ring[this.count % this.capacity] = framed
    this.count++
    this.lastId = framed.id
    // Frames of one tick go to the push set together, at the end of the tick.
    this.batch += framed.text
    this.batchEvents++
    if (this.batch.length >= BATCH_LIMIT) {
      this.flushBatch()
    } else if (!this.batchQueued) {
      this.batchQueued = true
      process.nextTick(flushBatchOf, this)
    }
    // Only the readers waiting in next(); the pushers get the batch.
    if (this.waiters.size > 0) {
      const woken = this.waiters
      this.waiters = this.spareWaiters
      this.spareWaiters = woken
      for (const reader of woken) reader.wake()
      woken.clear()
    }
  }

  /**
   * Writes the frames of this tick to every pusher in one loop: one Buffer for all of
   * them, no promise and no iterator result per subscriber. A pusher whose stream
   * cannot take it falls back to reading those frames through next().
   */
  flushBatch (): void {
    this.batchQueued = false
    if (this.batchEvents === 0) return
    const from = this.pushFrom
    const fromId = this.pushFromId
    const events = this.batchEvents
    const text = this.batch
    this.batch = ''
    this.batchEvents = 0
    this.pushFrom = this.count
    this.pushFromId = this.lastId
    if (this.pushers.size === 0) return
    const chunk = Buffer.from(text)
    for (const pusher of this.pushers) {
      // A pusher has a sink: only a cursor streamed by the plugin joins the set.
      if (!(pusher.sink as PushSink).write(chunk, events)) pusher.fellBehind(from, fromId)
    }
  }

  /** Reads the history after the last id, in pages, then the live entries buffered meanwhile. */
  private fill (): void {
    this.filling = true
    this.resyncPending = false
    this.fillPages().then(() => this.drainBuffered(), () => {
      if (this.stopped) return
      this.retryTimer = setTimeout(retryFill, FILL_RETRY_MS, this)
      this.retryTimer.unref()
    })
  }

  /** The retry after a fill failed (the engine unreachable): fill again. */
  retry (): void {
    if (!this.stopped) this.fill()
  }

  private async fillPages (): Promise<void> {
    while (!this.stopped) {
      this.overflowed = false
      const page = await this.engine.read(this.name, this.lastId, PAGE_SIZE)
      if (this.stopped) return
      if (page.status !== 'ok') {
        // The history no longer has our position: continuity cannot be proven. Say so once,
        // and go on from the newest id.
        const newest = await this.engine.newest(this.name)
        if (this.stopped) return
        this.push(resetFrame(newest, 'history-lost'))
        continue
      }
      for (const entry of page.entries) this.push(frame(entry.id, entry.body))
      if (page.entries.length < PAGE_SIZE && !this.overflowed) return
    }
  }

  /** Delivers the buffered live entries in order, or fills again at the next break. */
  private drainBuffered (): void {
    const buffered = this.buffered
    this.buffered = []
    for (let i = 0; i < buffered.length; i++) {
      const entry = buffered[i] as LiveEntry
      if (compareIds(entry.id, this.lastId) <= 0) continue
      if (entry.previousId !== this.lastId) {
        this.buffered = buffered.slice(i)
        this.fill()
        return
      }
      this.push(frame(entry.id, entry.body))
    }
    this.filling = false
    if (this.resyncPending) this.fill()
  }
}

function flushBatchOf (topic: Topic): void {
  topic.flushBatch()
}

function retryFill (topic: Topic): void {
  topic.retry()
}
