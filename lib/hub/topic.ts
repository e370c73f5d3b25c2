// One topic on this instance: it listens to the engine once, proves continuity on
// every live entry (its previousId must be the last id the topic has), frames each
// event once into a bounded window of recent frames, and wakes the cursors
// reading it. A break (a dropped live message, a resync) is filled from the
// engine's history in pages before any later event; a history that no longer has
// the topic's last id puts one framed `reset` into the window.

import { FramedEvent } from '../encode.js'
import type { EngineListener, HubEngine, LiveEntry } from './engine.js'
import { compareIds } from './ids.js'

/** Events read from the engine per page, when filling a break or catching a cursor up. */
export const PAGE_SIZE = 500

/** What a topic needs of a cursor reading it. */
export interface TopicReader {
  /** A frame was added to the window (the reader checks whether it waits for one). */
  wake (): void
  /** The hub closes: end now. */
  end (): void
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
   * now and then, and fills from the history when the engine has more than it.
   */
  checkTail (): void {
    if (this.stopped || this.filling) return
    if (this.heard) {
      this.heard = false
      return
    }
    this.engine.newest(this.name).then((newest) => {
      if (!this.stopped && !this.filling && compareIds(newest, this.lastId) > 0) this.fill()
    }, () => {}) // unreachable now: the engine's resync comes when it is back
  }

  /** Stops listening; every reader is ended. */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    this.stopListening()
    clearTimeout(this.retryTimer)
    this.buffered = []
    for (const reader of this.readers) reader.end()
    this.readers.clear()
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
    for (const reader of this.readers) reader.wake()
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

function retryFill (topic: Topic): void {
  topic.retry()
}
