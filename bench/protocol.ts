// Messages between the runner and its child processes (servers and the client), over IPC.

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
  fanoutStreams: number
}

export interface BroadcastResult extends CpuTime {
  events: number
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

export interface FanoutOpenArgs {
  port: number
  path: string
  streams: number
  connectConcurrency: number
}

export interface FanoutCollectArgs {
  events: number
  timeoutMs: number
}

export interface FanoutResult {
  streams: number
  deliveries: number
  latencyMs: { p50: number, p99: number, max: number }
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
