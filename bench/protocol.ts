// Messages between the runner and its child processes (servers and the client), over IPC.

import type { SerializedHistogram } from './latency.js'

export interface Request {
  id: number
  command: string
  args?: unknown
}

export type Reply = { id: number, ok: true, result: unknown } | { id: number, ok: false, error: string }

/** The first message a server sends: where it listens. */
export interface Ready {
  ready: true
  port: number
}

export interface CpuTime {
  /** user + system CPU time in microseconds */
  cpuMicros: number
  wallMillis: number
}

export interface MemoryFigures {
  heapUsed: number
  rss: number
}

export interface ServerState {
  generatorsStarted: number
  generatorsFinalized: number
  /** Sources blocked waiting for an event that will never come. */
  idleWaiting: number
  /** TCP connections the server still holds. */
  connections: number
  /** `null` when the server cannot count them (the client does) */
  fanoutStreams: number | null
}

/** What a broadcast sent; the CPU window it opened stays open until `cpu:stop`. */
export interface BroadcastResult {
  events: number
  /** publishes that rejected (the hub's publish is asynchronous) */
  publishErrors: number
  /** the first rejection's message */
  firstError?: string
}

export interface BurstArgs {
  port: number
  path: string
  events: number
  kind: 'burst' | 'tokens'
  timeoutMs: number
}

export interface BurstResult {
  events: number
  bytes: number
  elapsedMs: number
}

/**
 * When a client counts a stream as subscribed: once its response headers arrived, or
 * (for the hub, whose subscription starts after the headers) once its position item did.
 */
export type ReadyWhen = 'headers' | 'position'

export interface FanoutOpenArgs {
  port: number
  path: string
  streams: number
  connectConcurrency: number
  ready: ReadyWhen
}

export interface FanoutDeliveredArgs {
  events: number
  timeoutMs: number
}

export interface FanoutCollectArgs {
  events: number
  timeoutMs: number
}

export interface FanoutResult {
  streams: number
  deliveries: number
  latency: SerializedHistogram
}

/** hub-redis: topic `index` is served at `/topics/<index>`; its events carry { seq, ts }. */
export interface TopicsOpenArgs {
  ports: number[]
  topics: number
  /** streams per topic on each port */
  perTopic: number
  connectConcurrency: number
  ready: ReadyWhen
}

export interface TopicsAwaitArgs {
  /** events published on each topic (seq 0 to count - 1) */
  published: number[]
  /** give up waiting for the missing events after this long without any event */
  quietMs: number
  timeoutMs: number
}

export interface SequenceCheck {
  /** events a stream skipped: a jump in seq (lost for good) */
  gaps: number
  /** events still missing at the end: after its last event, a stream got nothing more */
  undelivered: number
  /** events a stream got again, or out of order */
  duplicates: number
  /** `reset` events (the hub admitting a gap) */
  resets: number
}

export interface TopicsResult extends SequenceCheck {
  /** the first few gaps and duplicates, where they were */
  faults: string[]
  streams: number
  deliveries: number
  latency: SerializedHistogram
}

export interface TopicsPublishArgs {
  /** the topics this instance publishes on, round-robin */
  topics: number[]
  perSecond: number
  durationMs: number
  label?: string
}

export interface TopicsPublishResult {
  /** from the first publish until the last one settled */
  elapsedMs: number
  /** [topic, events published] */
  published: Array<[number, number]>
  publishErrors: number
  firstError?: string
}

export interface ReplayLeaveArgs {
  port: number
  path: string
  timeoutMs: number
}

export interface ReplayResumeArgs {
  port: number
  path: string
  lastEventId: string
  events: number
  timeoutMs: number
}

export interface ReplayResult extends SequenceCheck {
  events: number
  /** from sending the request to the last replayed event */
  elapsedMs: number
}

export interface FillArgs {
  topic: string
  count: number
}

export interface CyclesArgs {
  port: number
  path: string
  cycles: number
  concurrency: number
  /** abort: after the first event, stop reading for this long, then leave */
  stallMs: number
  timeoutMs: number
}

export interface CyclesResult {
  cycles: number
  elapsedMs: number
}
