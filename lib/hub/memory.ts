// The embedded engine: every topic's history in this process's memory. One
// process only; a restart empties it, and clients then get `reset`.
//
// Rules of engine.ts it keeps: ids `<ms>-<seq>` grow within a topic even when the
// clock goes back (and across idle drops, through one high-water mark per engine);
// history is trimmed by count and by age from its oldest end only; an event is
// stored and announced as one step (listeners hear of it in a microtask, in
// append order); `read` says `history-lost` for an id below the oldest kept or
// for any past id of a topic it holds nothing of (dropped, or from before a
// restart), and `unknown-id` for a malformed id, an id above the newest, or an id
// inside the kept range that is no event of the topic.

import { FST_SSE_HUB_UNAVAILABLE, FST_SSE_INVALID_OPTION } from '../errors.js'
import { ZERO_ID, type EngineEntry, type EngineListener, type EnginePage, type HubEngine, type LiveEntry } from './engine.js'
import { compareIds, parseId } from './ids.js'

export interface MemoryEngineOptions {
  /** Events kept per topic; the oldest go first. Default 1000. */
  history?: number
  /** Events older than this (ms) are dropped from the history. Default: no age limit. */
  maxAgeMs?: number
  /** A topic with no event for this long (ms) loses its whole history. Default 24 h. */
  idleTtlMs?: number
}

interface StoredEntry extends EngineEntry {
  readonly ms: number
}

/** One topic's history: `entries[head..]` oldest first. */
interface TopicHistory {
  entries: StoredEntry[]
  head: number
  /** The newest id ever given in this topic (still valid when every entry is gone). */
  lastId: string
  lastMs: number
  lastSeq: number
  /** Some event left the history (by count or age): ZERO_ID is no longer a resume point. */
  trimmed: boolean
  lastAppendAt: number
  readonly listeners: Set<EngineListener>
}

const DAY = 24 * 60 * 60 * 1000
/** The sweep that drops idle topics runs at most this often, and at least every minute. */
const MIN_SWEEP_MS = 1000
const MAX_SWEEP_MS = 60_000

/** The embedded engine, the hub's default. */
export function memoryEngine (options: MemoryEngineOptions = {}): HubEngine {
  return new MemoryEngine(options)
}

class MemoryEngine implements HubEngine {
  private readonly history: number
  private readonly maxAgeMs: number | undefined
  private readonly idleTtlMs: number
  private readonly topics = new Map<string, TopicHistory>()
  /** The largest `ms` part given to any id: a topic made again never goes below it. */
  private highWaterMs = 0
  private readonly sweeper: NodeJS.Timeout
  private closed = false

  constructor (options: MemoryEngineOptions) {
    if (typeof options !== 'object' || options === null) throw new FST_SSE_INVALID_OPTION('memoryEngine() options must be an object')
    this.history = positiveInteger(options.history, 1000, 'history')
    this.maxAgeMs = options.maxAgeMs === undefined ? undefined : positiveInteger(options.maxAgeMs, 0, 'maxAgeMs')
    this.idleTtlMs = positiveInteger(options.idleTtlMs, DAY, 'idleTtlMs')
    const every = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, Math.min(this.idleTtlMs, this.maxAgeMs ?? Infinity)))
    this.sweeper = setInterval(sweep, every, this)
    this.sweeper.unref()
  }

  async append (topic: string, body: string): Promise<string> {
    if (this.closed) throw new FST_SSE_HUB_UNAVAILABLE('the memory engine is closed')
    const now = Date.now()
    let history = this.current(topic, now)
    if (history === undefined) {
      history = { entries: [], head: 0, lastId: ZERO_ID, lastMs: 0, lastSeq: 0, trimmed: false, lastAppendAt: now, listeners: new Set() }
      this.topics.set(topic, history)
    }
    // The clock may go back: never below the last id of the topic or of any dropped topic.
    const floor = Math.max(history.lastMs, this.highWaterMs)
    const ms = now > floor ? now : floor
    const seq = ms === history.lastMs ? history.lastSeq + 1 : 0
    const id = ms + '-' + seq
    const previousId = history.lastId
    history.entries.push({ id, body, ms })
    history.lastId = id
    history.lastMs = ms
    history.lastSeq = seq
    history.lastAppendAt = now
    this.highWaterMs = ms
    this.trim(history, now)
    if (history.listeners.size > 0) queueMicrotask(() => announce(history, { id, body, previousId }))
    return id
  }

  async read (topic: string, afterId: string | undefined, limit: number): Promise<EnginePage> {
    if (this.closed) throw new FST_SSE_HUB_UNAVAILABLE('the memory engine is closed')
    const now = Date.now()
    const history = this.current(topic, now)
    if (afterId !== undefined && afterId !== ZERO_ID) {
      const parsed = parseId(afterId)
      if (parsed === undefined) return UNKNOWN_ID
      // Nothing ever held: a past id may be of a dropped history or of a previous process.
      if (history === undefined || history.lastId === ZERO_ID) return parsed[0] <= BigInt(Math.max(now, this.highWaterMs)) ? HISTORY_LOST : UNKNOWN_ID
    }
    if (history === undefined) return { status: 'ok', entries: [] }
    this.trim(history, now)
    const { entries, head } = history
    let start: number
    if (afterId === undefined) {
      start = head
    } else if (afterId === ZERO_ID) {
      if (history.trimmed) return HISTORY_LOST
      start = head
    } else if (afterId === history.lastId) {
      start = entries.length
    } else {
      if (compareIds(afterId, history.lastId) > 0) return UNKNOWN_ID
      const oldest = entries[head]
      if (oldest === undefined || compareIds(afterId, oldest.id) < 0) return HISTORY_LOST
      const index = findEntry(entries, head, afterId)
      if (index < 0) return UNKNOWN_ID
      start = index + 1
    }
    return { status: 'ok', entries: entries.slice(start, start + limit) }
  }

  async newest (topic: string): Promise<string> {
    if (this.closed) throw new FST_SSE_HUB_UNAVAILABLE('the memory engine is closed')
    return this.current(topic, Date.now())?.lastId ?? ZERO_ID
  }

  listen (topic: string, listener: EngineListener): () => void {
    if (this.closed) throw new FST_SSE_HUB_UNAVAILABLE('the memory engine is closed')
    let history = this.current(topic, Date.now())
    if (history === undefined) {
      // Held so that the first append announces to this listener; it has no id yet.
      history = { entries: [], head: 0, lastId: ZERO_ID, lastMs: 0, lastSeq: 0, trimmed: false, lastAppendAt: Date.now(), listeners: new Set() }
      this.topics.set(topic, history)
    }
    const held = history
    held.listeners.add(listener)
    return () => { held.listeners.delete(listener) }
  }

  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.sweeper)
    this.topics.clear()
  }

  /** Drops the histories idle for longer than idleTtlMs, and what has aged out of the others. */
  sweep (): void {
    const now = Date.now()
    for (const [topic, history] of this.topics) {
      if (this.current(topic, now) !== undefined) this.trim(history, now)
    }
  }

  /** The topic's history, unless it is idle past its TTL (then it is dropped first). */
  private current (topic: string, now: number): TopicHistory | undefined {
    const history = this.topics.get(topic)
    if (history === undefined || now - history.lastAppendAt < this.idleTtlMs) return history
    if (history.listeners.size === 0) {
      this.topics.delete(topic)
      return undefined
    }
    // Listened to: keep the ids going, but hold nothing of the past.
    history.entries = []
    history.head = 0
    if (history.lastId !== ZERO_ID) history.trimmed = true
    history.lastAppendAt = now
    return history
  }

  /** Drops events from the oldest end: past the count limit, and older than maxAgeMs. */
  private trim (history: TopicHistory, now: number): void {
    let head = history.head
    const entries = history.entries
    const overCount = entries.length - head - this.history
    if (overCount > 0) head += overCount
    if (this.maxAgeMs !== undefined) {
      const oldestKept = now - this.maxAgeMs
      while (head < entries.length && (entries[head] as StoredEntry).ms < oldestKept) head++
    }
    if (head === history.head) return
    history.trimmed = true
    // Compact once the dropped part is as large as the kept part.
    if (head * 2 >= entries.length) {
      history.entries = entries.slice(head)
      history.head = 0
    } else {
      history.head = head
    }
  }
}

const UNKNOWN_ID: EnginePage = { status: 'unknown-id' }
const HISTORY_LOST: EnginePage = { status: 'history-lost' }

function sweep (engine: MemoryEngine): void {
  engine.sweep()
}

function announce (history: TopicHistory, entry: LiveEntry): void {
  for (const listener of history.listeners) listener.entry(entry)
}

/** The index of the entry with this id in `entries[head..]` (oldest first), or -1. */
function findEntry (entries: readonly StoredEntry[], head: number, id: string): number {
  let low = head
  let high = entries.length - 1
  while (low <= high) {
    const middle = (low + high) >>> 1
    const order = compareIds((entries[middle] as StoredEntry).id, id)
    // The same position with another tag is another event: not a position of this history.
    if (order === 0) return (entries[middle] as StoredEntry).id === id ? middle : -1
    if (order < 0) low = middle + 1
    else high = middle - 1
  }
  return -1
}

function positiveInteger (value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw new FST_SSE_INVALID_OPTION(`memoryEngine() ${name} must be a positive integer, got ${String(value)}`)
  }
  return value as number
}
