// The workloads: how each one drives a contender's server and the client, and
// which figures it reports.

import type { Settings } from './config.js'
import type { Child } from './processes.js'
import type {
  BroadcastResult, BurstArgs, BurstResult, CpuTime, CyclesArgs, CyclesResult, FanoutCollectArgs, FanoutOpenArgs,
  FanoutResult, MemoryFigures, ServerState
} from './protocol.js'

export type Figures = Record<string, number>

export interface Metric {
  key: string
  label: string
  /** how a value is printed */
  unit: 'rate' | 'us' | 'ms' | 'bytes' | 'count'
  /** which way is better; 'none' for facts that are not compared as ratios */
  better: 'higher' | 'lower' | 'none'
}

export interface RunContext {
  server: Child
  client: Child
  port: number
  settings: Settings
  /** names this run (workload and repetition), e.g. for its CPU profile */
  label: string
}

export interface Workload {
  id: string
  title: string
  description: string
  metrics: Metric[]
  reps: (settings: Settings) => number
  run: (context: RunContext) => Promise<Figures>
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function state (server: Child): Promise<ServerState> {
  return await server.request<ServerState>('state')
}

async function streamWorkload (context: RunContext, kind: 'burst' | 'tokens', events: number): Promise<Figures> {
  const { server, client, port, settings } = context
  const args = (count: number): BurstArgs => ({ port, path: '/' + kind, events: count, kind, timeoutMs: 120_000 })
  await client.request<BurstResult>('burst', args(settings.warmupEvents), 130_000)
  await server.request('cpu:start', { label: context.label })
  const result = await client.request<BurstResult>('burst', args(events), 130_000)
  const cpu = await server.request<CpuTime>('cpu:stop')
  return {
    eventsPerSec: events / (result.elapsedMs / 1000),
    cpuPerEvent: cpu.cpuMicros / events,
    mbPerSec: result.bytes / 1e6 / (result.elapsedMs / 1000)
  }
}

async function waitFor (what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

async function fanoutWorkload (context: RunContext, streams: number): Promise<Figures> {
  const { server, client, port, settings } = context
  const setupStart = performance.now()
  const before = await server.request<MemoryFigures>('memory')
  await client.request('fanout:open', { port, path: '/fanout', streams, connectConcurrency: 100 } satisfies FanoutOpenArgs, 60_000)
  let subscribed = 0
  await waitFor(`${streams} subscribed streams (have ${subscribed})`, 30_000, async () => {
    subscribed = (await state(server)).fanoutStreams
    return subscribed >= streams
  })
  const open = await server.request<MemoryFigures>('memory')
  const setupMs = performance.now() - setupStart
  const plannedMs = settings.fanoutEvents * settings.fanoutIntervalMs
  const broadcast = await server.request<BroadcastResult>(
    'broadcast',
    { count: settings.fanoutEvents, intervalMs: settings.fanoutIntervalMs, maxMs: 2 * plannedMs, label: context.label },
    2 * plannedMs + 30_000
  )
  // Every stream must have received every event that was published, then the end of its response.
  const result = await client.request<FanoutResult>('fanout:collect', { events: broadcast.events, timeoutMs: 30_000 } satisfies FanoutCollectArgs, 40_000)
  return {
    p50: result.latencyMs.p50,
    p99: result.latencyMs.p99,
    max: result.latencyMs.max,
    cpuPerDelivery: broadcast.cpuMicros / result.deliveries,
    heapPerStream: (open.heapUsed - before.heapUsed) / streams,
    rssPerStream: (open.rss - before.rss) / streams,
    published: broadcast.events,
    broadcastSec: broadcast.wallMillis / 1000,
    setupSec: setupMs / 1000
  }
}

async function cyclesWorkload (context: RunContext, path: string, cycles: number, stallMs: number): Promise<Figures> {
  const { server, client, port, settings } = context
  const stateBefore = await state(server)
  const memoryBefore = await server.request<MemoryFigures>('memory')
  await server.request('cpu:start', { label: context.label })
  const args: CyclesArgs = { port, path, cycles, concurrency: settings.cycleConcurrency, stallMs, timeoutMs: 120_000 }
  const result = await client.request<CyclesResult>('cycles', args, 130_000)
  const cpu = await server.request<CpuTime>('cpu:stop')
  // Give the server a moment to notice the last disconnections; a leak stays a leak.
  let after = await state(server)
  const settled = (s: ServerState): boolean => s.connections === 0 && s.generatorsStarted - s.generatorsFinalized === stateBefore.generatorsStarted - stateBefore.generatorsFinalized
  for (let tries = 0; tries < 20 && !settled(after); tries++) {
    await sleep(100)
    after = await state(server)
  }
  const memoryAfter = await server.request<MemoryFigures>('memory')
  const started = after.generatorsStarted - stateBefore.generatorsStarted
  const finalized = after.generatorsFinalized - stateBefore.generatorsFinalized
  return {
    cyclesPerSec: cycles / (result.elapsedMs / 1000),
    cpuPerCycle: cpu.cpuMicros / cycles,
    started,
    finalized,
    unfinalized: started - finalized,
    openConnections: after.connections,
    heapGrowth: memoryAfter.heapUsed - memoryBefore.heapUsed
  }
}

const streamMetrics: Metric[] = [
  { key: 'eventsPerSec', label: 'events/s', unit: 'rate', better: 'higher' },
  { key: 'cpuPerEvent', label: 'server CPU/event', unit: 'us', better: 'lower' },
  { key: 'mbPerSec', label: 'MB/s on the wire', unit: 'count', better: 'none' }
]

const fanoutMetrics = (settings: Settings): Metric[] => [
  { key: 'p50', label: 'latency p50', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
  { key: 'max', label: 'latency max', unit: 'ms', better: 'lower' },
  { key: 'cpuPerDelivery', label: 'server CPU/delivery', unit: 'us', better: 'lower' },
  { key: 'heapPerStream', label: 'heap/stream', unit: 'bytes', better: 'lower' },
  { key: 'rssPerStream', label: 'RSS/stream', unit: 'bytes', better: 'none' },
  { key: 'published', label: `events sent (of ${settings.fanoutEvents})`, unit: 'count', better: 'none' },
  { key: 'broadcastSec', label: 'seconds to send them', unit: 'count', better: 'none' }
]

const cycleMetrics: Metric[] = [
  { key: 'cyclesPerSec', label: 'cycles/s', unit: 'rate', better: 'higher' },
  { key: 'cpuPerCycle', label: 'server CPU/cycle', unit: 'us', better: 'lower' },
  { key: 'finalized', label: 'generators finalized', unit: 'count', better: 'none' },
  { key: 'unfinalized', label: 'left hanging', unit: 'count', better: 'none' },
  { key: 'openConnections', label: 'open connections after', unit: 'count', better: 'none' },
  { key: 'heapGrowth', label: 'heap growth after GC', unit: 'bytes', better: 'none' }
]

export function workloads (settings: Settings): Workload[] {
  const fanout = (id: string, streams: number): Workload => ({
    id,
    title: `fanout, ${streams.toLocaleString('en-US')} streams`,
    description: `${streams.toLocaleString('en-US')} open streams; one broadcast event every ${settings.fanoutIntervalMs} ms, ${settings.fanoutEvents} in all. ` +
      'Latency from the timestamp in the event to its arrival at the client; heap and RSS per open stream after GC. ' +
      `A server too busy to keep to the schedule sends fewer events: it stops after ${2 * settings.fanoutEvents * settings.fanoutIntervalMs / 1000} s.`,
    metrics: fanoutMetrics(settings),
    reps: s => s.fanoutReps,
    run: context => fanoutWorkload(context, streams)
  })
  return [
    {
      id: 'burst',
      title: 'burst',
      description: `One connection, ${settings.burstEvents.toLocaleString('en-US')} \`tick\` events { value, ts } from an async generator, as fast as the client takes them.`,
      metrics: streamMetrics,
      reps: s => s.reps,
      run: context => streamWorkload(context, 'burst', context.settings.burstEvents)
    },
    {
      id: 'tokens',
      title: 'tokens',
      description: `One connection, ${settings.tokenEvents.toLocaleString('en-US')} unnamed { delta } events, then \`data: [DONE]\` (the AI-chat pattern).`,
      metrics: streamMetrics,
      reps: s => s.reps,
      run: context => streamWorkload(context, 'tokens', context.settings.tokenEvents)
    },
    fanout('fanout-1k', settings.fanoutSmall),
    fanout('fanout-5k', settings.fanoutLarge),
    {
      id: 'churn',
      title: 'churn',
      description: `${settings.churnCycles.toLocaleString('en-US')} times: connect, receive one event, disconnect (${settings.cycleConcurrency} at a time). ` +
        'The source then waits for an event that never comes; it is released only if the contender tears it down.',
      metrics: cycleMetrics,
      reps: s => s.cycleReps,
      run: context => cyclesWorkload(context, '/churn', context.settings.churnCycles, 0)
    },
    {
      id: 'abort',
      title: 'abort',
      description: `${settings.abortCycles.toLocaleString('en-US')} times: connect, receive one event, stop reading for ${settings.abortStallMs} ms, disconnect. ` +
        'The source floods ~1 KB events, so clients leave while the server waits on backpressure ' +
        '(each cycle makes the server write ~0.5 MB before the socket pushes back, hence fewer cycles than churn).',
      metrics: cycleMetrics,
      reps: s => s.cycleReps,
      run: context => cyclesWorkload(context, '/abort', context.settings.abortCycles, context.settings.abortStallMs)
    }
  ]
}
