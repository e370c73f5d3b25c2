// The workloads: how each one drives a contender's server and the client, and
// which figures it reports.

import { REDIS_REFERENCE, REDIS_SHARDED_REFERENCE, type Contender, type Settings } from './config.js'
import { summarizeLatency } from './latency.js'
import type { Child } from './processes.js'
import type {
  BroadcastResult, BurstArgs, BurstResult, CpuTime, CyclesArgs, CyclesResult, FanoutCollectArgs, FanoutDeliveredArgs,
  FanoutOpenArgs, FanoutResult, MemoryFigures, ReplayLeaveArgs, ReplayResult, ReplayResumeArgs, ServerState,
  TopicsAwaitArgs, TopicsOpenArgs, TopicsPublishArgs, TopicsPublishResult, TopicsResult
} from './protocol.js'
import { REDIS_INSTALL, findRedisServer, startRedis } from './redis.js'
import { REDIS_CLI_INSTALL, findRedisCli, startRedisCluster } from './redis-cluster.js'

export type Figures = Record<string, number>

export interface Metric {
  key: string
  label: string
  /** how a value is printed */
  unit: 'rate' | 'us' | 'ms' | 'bytes' | 'count'
  /** which way is better; 'none' for facts that are not compared as ratios */
  better: 'higher' | 'lower' | 'none'
}

interface ContextBase {
  contender: Contender
  /** the first client process */
  client: Child
  /** `count` client processes (the first is `client`), started on first use and kept for the run */
  clients: (count: number) => Promise<Child[]>
  settings: Settings
  /** names this run (workload and repetition), e.g. for its CPU profile */
  label: string
}

/** A workload on the contender's server, which the runner starts once per repetition. */
export interface RunContext extends ContextBase {
  server: Child
  port: number
}

/** A workload that starts the servers it needs (several instances of the contender). */
export interface OwnServersContext extends ContextBase {
  /** Starts one more server process of the contender with `env`; the runner stops it after the run. */
  launch: (env: Record<string, string>) => Child
}

interface WorkloadBase {
  id: string
  title: string
  description: string
  metrics: Metric[]
  reps: (settings: Settings) => number
  /** the contenders that run it (default: every contender that is not dedicated) */
  contenders?: string[]
  /** the 1.00× of its ratios (default: the node:http reference) */
  reference?: string
  /** subscribers, for the workloads that grow to find the largest count a contender serves */
  scale?: number
  /** why it cannot run on this machine, if it cannot */
  unavailable?: () => string | undefined
}

export type Workload = WorkloadBase & (
  | { servers: 'shared', run: (context: RunContext) => Promise<Figures> }
  | { servers: 'own', run: (context: OwnServersContext) => Promise<Figures> }
)

/** Whether `contender` runs in `workload`. */
export function runsIn (workload: Workload, contender: Contender): boolean {
  return workload.contenders === undefined ? contender.dedicated !== true : workload.contenders.includes(contender.id)
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

async function waitFor (what: string, timeoutMs: number, check: () => Promise<boolean>, progress = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${progress()})`)
    await sleep(50)
  }
}

/** `total` split into `parts` shares that differ by at most one. */
function shares (total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0))
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)

interface Broadcast {
  streams: number
  events: number
  intervalMs: number
}

/**
 * Opens the streams (spread over client processes with at most `streamsPerClient` each),
 * waits until all are subscribed, broadcasts, and checks that every stream got every
 * event. The CPU window runs from the first publish until the clients have every event.
 */
async function fanoutWorkload (context: RunContext, { streams, events, intervalMs }: Broadcast): Promise<Figures> {
  const { server, port, settings, contender } = context
  const clients = await context.clients(Math.ceil(streams / settings.streamsPerClient))
  const setupStart = performance.now()
  const before = await server.request<MemoryFigures>('memory')
  const ready = contender.ready ?? 'headers'
  const perClient = shares(streams, clients.length)
  await Promise.all(clients.map((client, index) =>
    client.request('fanout:open', { port, path: '/fanout', streams: perClient[index] as number, connectConcurrency: 100, ready } satisfies FanoutOpenArgs, 180_000)))
  let subscribed = 0
  // Generous: on a busy machine 19,000 connections take a while.
  await waitFor(`${streams} subscribed streams`, 120_000, async () => {
    const counted = (await state(server)).fanoutStreams
    subscribed = counted ?? sum(await Promise.all(clients.map(client => client.request<number>('fanout:ready'))))
    return subscribed >= streams
  }, () => `have ${subscribed}`)
  const open = await server.request<MemoryFigures>('memory')
  const setupMs = performance.now() - setupStart
  const plannedMs = events * intervalMs
  const broadcastStart = performance.now()
  const broadcast = await server.request<BroadcastResult>(
    'broadcast',
    { count: events, intervalMs, maxMs: 2 * plannedMs, label: context.label },
    2 * plannedMs + 30_000
  )
  const broadcastEnd = performance.now()
  if (broadcast.publishErrors > 0) throw new Error(`${broadcast.publishErrors} publishes failed: ${broadcast.firstError}`)
  const delivered: FanoutDeliveredArgs = { events: broadcast.events, timeoutMs: 30_000 }
  await Promise.all(clients.map(client => client.request<boolean>('fanout:delivered', delivered, 40_000)))
  const cpu = await server.request<CpuTime>('cpu:stop')
  await server.request('fanout:end', undefined, 30_000)
  // Every stream must have received every event that was published, then the end of its response.
  const collect: FanoutCollectArgs = { events: broadcast.events, timeoutMs: 30_000 }
  const results = await Promise.all(clients.map(client => client.request<FanoutResult>('fanout:collect', collect, 40_000)))
  const deliveries = sum(results.map(result => result.deliveries))
  const latency = summarizeLatency(results.map(result => result.latency))
  return {
    p50: latency.p50,
    p99: latency.p99,
    max: latency.max,
    cpuPerDelivery: cpu.cpuMicros / deliveries,
    heapPerStream: (open.heapUsed - before.heapUsed) / streams,
    rssPerStream: (open.rss - before.rss) / streams,
    published: broadcast.events,
    broadcastSec: (broadcastEnd - broadcastStart) / 1000,
    setupSec: setupMs / 1000
  }
}

const percentOfCore = (cpuMicros: number, wallMs: number): number => 100 * cpuMicros / (wallMs * 1000)

/**
 * hub-redis: two instances of the contender on one fresh redis-server, streams of every
 * topic on both, each instance publishing half of the events on half of the topics.
 * The client checks every stream's sequence (gaps, duplicates, resets). Then, for a
 * contender that replays: a client leaves at a position on one instance, misses
 * `redisReplayEvents` events, and resumes from its last event id on the other.
 */
async function hubRedisWorkload (context: OwnServersContext, onCluster = false): Promise<Figures> {
  const { settings, contender } = context
  const redisServer = findRedisServer()
  if (redisServer === undefined) throw new Error(`redis-server not found: ${REDIS_INSTALL}`)
  const redisCli = findRedisCli()
  if (onCluster && redisCli === undefined) throw new Error(`redis-cli not found: ${REDIS_CLI_INSTALL}`)
  const redis = onCluster ? await startRedisCluster(redisServer, redisCli as string) : await startRedis(redisServer)
  const instances: Child[] = []
  try {
    const env = {
      BENCH_REDIS_URL: redis.url,
      BENCH_DROP_SHARE: String(settings.redisDropShare),
      // Enough history for the replay: the hub must still hold every missed event.
      BENCH_HISTORY: String(settings.redisReplayEvents)
    }
    instances.push(context.launch(env), context.launch(env))
    const ports = await Promise.all(instances.map(instance => instance.ready))
    const topics = settings.redisTopics
    const streams = ports.length * topics * settings.redisStreamsPerTopic
    // One client process per instance, so that checking 20,000 events/s is not what limits the latency.
    const clients = await context.clients(ports.length)
    await Promise.all(clients.map((client, index) => client.request('topics:open', {
      ports: [ports[index] as number], topics, perTopic: settings.redisStreamsPerTopic, connectConcurrency: 100, ready: contender.ready ?? 'headers'
    } satisfies TopicsOpenArgs, 120_000)))
    let subscribed = 0
    await waitFor(`${streams} subscribed streams`, 60_000, async () => {
      subscribed = sum(await Promise.all(clients.map(client => client.request<number>('topics:ready'))))
      return subscribed >= streams
    }, () => `have ${subscribed}`)

    const redisBefore = await redis.cpuMicros()
    // On the cluster, a graceful failover of one master halfway through the run.
    const failover = 'failover' in redis ? sleep(settings.redisDurationMs / 2).then(() => redis.failover()) : undefined
    const results = await Promise.all(instances.map((instance, index) => instance.request<TopicsPublishResult>('topics:publish', {
      topics: Array.from({ length: topics }, (_, topic) => topic).filter(topic => topic % instances.length === index),
      perSecond: settings.redisPerSecond / instances.length,
      durationMs: settings.redisDurationMs,
      label: context.label
    } satisfies TopicsPublishArgs, settings.redisDurationMs + 60_000)))
    const published = new Array<number>(topics).fill(0)
    for (const result of results) for (const [topic, count] of result.published) published[topic] = count
    await failover
    // Quiet for longer than the hub's tail check (2 s): a quiet topic's last message, thrown away, is then found.
    const check: TopicsAwaitArgs = { published, quietMs: 3000, timeoutMs: 15_000 }
    await Promise.all(clients.map(client => client.request<boolean>('topics:await', check, 20_000)))
    const cpus = await Promise.all(instances.map(instance => instance.request<CpuTime>('cpu:stop')))
    // After cpu:stop, so that a profiled run still writes its profile.
    const failed = results.find(result => result.publishErrors > 0)
    if (failed !== undefined) {
      throw new Error(`${sum(results.map(result => result.publishErrors))} publishes failed (${percentOfCore(sum(cpus.map(cpu => cpu.cpuMicros)) / cpus.length, Math.max(...results.map(r => r.elapsedMs))).toFixed(0)}% CPU per instance): ${failed.firstError}`)
    }
    const redisCpu = await redis.cpuMicros() - redisBefore
    // CPU per second of publishing: the work of delivering what was published late counts, the wait for what never comes does not.
    const publishMs = Math.max(...results.map(result => result.elapsedMs))
    const deliveries = await Promise.all(clients.map(client => client.request<TopicsResult>('topics:collect', check)))
    const latency = summarizeLatency(deliveries.map(delivery => delivery.latency))
    const faults = deliveries.flatMap(delivery => delivery.faults)
    if (faults.length > 0) console.error(`${contender.id}: ${faults.slice(0, 5).join('; ')}`)
    const total = (key: 'deliveries' | 'gaps' | 'undelivered' | 'duplicates' | 'resets'): number => sum(deliveries.map(delivery => delivery[key]))
    const instanceCpu = cpus.map(cpu => percentOfCore(cpu.cpuMicros, publishMs))

    const replay = contender.replays === true ? await replayMissed(context, instances, ports) : undefined
    return {
      instanceCpu: sum(instanceCpu) / instanceCpu.length,
      instanceCpuMax: Math.max(...instanceCpu),
      redisCpu: percentOfCore(redisCpu, publishMs),
      p50: latency.p50,
      p99: latency.p99,
      deliveries: total('deliveries'),
      gaps: total('gaps'),
      undelivered: total('undelivered'),
      duplicates: total('duplicates'),
      resets: total('resets'),
      replayMs: replay?.elapsedMs ?? NaN,
      replayFaults: replay === undefined ? NaN : replay.gaps + replay.undelivered + replay.duplicates + replay.resets
    }
  } finally {
    // The instances first: a Redis gone before them would only make them reconnect.
    await Promise.all(instances.map(instance => instance.stop()))
    await redis.stop()
  }
}

/** A client subscribes on the first instance and leaves; events are published; it resumes on the second. */
async function replayMissed (context: OwnServersContext, instances: Child[], ports: number[]): Promise<ReplayResult> {
  const { client, settings } = context
  const path = '/topics/replay'
  const lastEventId = await client.request<string>('replay:leave', { port: ports[0] as number, path, timeoutMs: 10_000 } satisfies ReplayLeaveArgs, 20_000)
  await (instances[0] as Child).request('topics:fill', { topic: 'replay', count: settings.redisReplayEvents }, 120_000)
  const resume: ReplayResumeArgs = { port: ports[1] as number, path, lastEventId, events: settings.redisReplayEvents, timeoutMs: 30_000 }
  return await client.request<ReplayResult>('replay:resume', resume, 40_000)
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

const fanoutMetrics = (events: number): Metric[] => [
  { key: 'p50', label: 'latency p50', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
  { key: 'max', label: 'latency max', unit: 'ms', better: 'lower' },
  { key: 'cpuPerDelivery', label: 'server CPU/delivery', unit: 'us', better: 'lower' },
  { key: 'heapPerStream', label: 'heap/stream', unit: 'bytes', better: 'lower' },
  { key: 'rssPerStream', label: 'RSS/stream', unit: 'bytes', better: 'none' },
  { key: 'published', label: `events sent (of ${events})`, unit: 'count', better: 'none' },
  { key: 'broadcastSec', label: 'seconds to send them', unit: 'count', better: 'none' }
]

const hubRedisMetrics: Metric[] = [
  { key: 'instanceCpu', label: 'CPU per instance (% of a core)', unit: 'count', better: 'lower' },
  { key: 'instanceCpuMax', label: 'busier instance', unit: 'count', better: 'none' },
  { key: 'redisCpu', label: 'Redis CPU (% of a core)', unit: 'count', better: 'lower' },
  { key: 'p50', label: 'latency p50', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
  { key: 'deliveries', label: 'events delivered', unit: 'count', better: 'none' },
  { key: 'gaps', label: 'gaps', unit: 'count', better: 'none' },
  { key: 'undelivered', label: 'missing at the end', unit: 'count', better: 'none' },
  { key: 'duplicates', label: 'duplicates', unit: 'count', better: 'none' },
  { key: 'resets', label: 'resets', unit: 'count', better: 'none' },
  { key: 'replayMs', label: 'replay of the missed events', unit: 'ms', better: 'none' },
  { key: 'replayFaults', label: 'replay faults (gaps, missing, duplicates, resets)', unit: 'count', better: 'none' }
]

const cycleMetrics: Metric[] = [
  { key: 'cyclesPerSec', label: 'cycles/s', unit: 'rate', better: 'higher' },
  { key: 'cpuPerCycle', label: 'server CPU/cycle', unit: 'us', better: 'lower' },
  { key: 'finalized', label: 'generators finalized', unit: 'count', better: 'none' },
  { key: 'unfinalized', label: 'left hanging', unit: 'count', better: 'none' },
  { key: 'openConnections', label: 'open connections after', unit: 'count', better: 'none' },
  { key: 'heapGrowth', label: 'heap growth after GC', unit: 'bytes', better: 'none' }
]

/** The contenders of the hub workloads: the hand-written loop, better-sse's Channel, the plugin's generator per stream, and its hub. */
export const HUB_CONTENDERS = ['node-http', 'better-sse', 'typed-sse', 'typed-sse-hub']

export function workloads (settings: Settings): Workload[] {
  const count = (n: number): string => n.toLocaleString('en-US')
  const fanout = (id: string, streams: number): Workload => ({
    id,
    servers: 'shared',
    title: `fanout, ${count(streams)} streams`,
    description: `${count(streams)} open streams; one broadcast event every ${settings.fanoutIntervalMs} ms, ${settings.fanoutEvents} in all. ` +
      'Latency from the timestamp in the event to its arrival at the client; heap and RSS per open stream after GC. ' +
      `A server too busy to keep to the schedule sends fewer events: it stops after ${2 * settings.fanoutEvents * settings.fanoutIntervalMs / 1000} s.`,
    metrics: fanoutMetrics(settings.fanoutEvents),
    reps: s => s.fanoutReps,
    run: context => fanoutWorkload(context, { streams, events: settings.fanoutEvents, intervalMs: settings.fanoutIntervalMs })
  })
  const hub = (id: string, streams: number): Workload => ({
    id,
    servers: 'shared',
    title: `hub, ${count(streams)} subscribers`,
    description: `${count(streams)} subscribers of one topic over ${Math.ceil(streams / settings.streamsPerClient)} client processes; ` +
      `one publish every ${settings.hubIntervalMs} ms, ${settings.hubEvents} in all, validation on. The hub subscribes each stream with ` +
      '`hub.subscribe(topic)` and publishes with `hub.publish`; the generator contender gives each stream its own async generator, ' +
      'woken by one shared promise per publish. CPU from the first publish until every client has every event; a lost event is an error. ' +
      `A server too busy to keep to the schedule publishes fewer: it stops after ${2 * settings.hubEvents * settings.hubIntervalMs / 1000} s.`,
    metrics: fanoutMetrics(settings.hubEvents),
    reps: s => s.hubReps,
    contenders: HUB_CONTENDERS,
    scale: streams,
    run: context => fanoutWorkload(context, { streams, events: settings.hubEvents, intervalMs: settings.hubIntervalMs })
  })
  return [
    {
      id: 'burst',
      servers: 'shared',
      title: 'burst',
      description: `One connection, ${count(settings.burstEvents)} \`tick\` events { value, ts } from an async generator, as fast as the client takes them.`,
      metrics: streamMetrics,
      reps: s => s.reps,
      run: context => streamWorkload(context, 'burst', context.settings.burstEvents)
    },
    {
      id: 'tokens',
      servers: 'shared',
      title: 'tokens',
      description: `One connection, ${count(settings.tokenEvents)} unnamed { delta } events, then \`data: [DONE]\` (the AI-chat pattern).`,
      metrics: streamMetrics,
      reps: s => s.reps,
      run: context => streamWorkload(context, 'tokens', context.settings.tokenEvents)
    },
    fanout('fanout-1k', settings.fanoutSmall),
    fanout('fanout-5k', settings.fanoutLarge),
    {
      id: 'churn',
      servers: 'shared',
      title: 'churn',
      description: `${count(settings.churnCycles)} times: connect, receive one event, disconnect (${settings.cycleConcurrency} at a time). ` +
        'The source then waits for an event that never comes; it is released only if the contender tears it down.',
      metrics: cycleMetrics,
      reps: s => s.cycleReps,
      run: context => cyclesWorkload(context, '/churn', context.settings.churnCycles, 0)
    },
    {
      id: 'abort',
      servers: 'shared',
      title: 'abort',
      description: `${count(settings.abortCycles)} times: connect, receive one event, stop reading for ${settings.abortStallMs} ms, disconnect. ` +
        'The source floods ~1 KB events, so clients leave while the server waits on backpressure ' +
        '(each cycle makes the server write ~0.5 MB before the socket pushes back, hence fewer cycles than churn).',
      metrics: cycleMetrics,
      reps: s => s.cycleReps,
      run: context => cyclesWorkload(context, '/abort', context.settings.abortCycles, context.settings.abortStallMs)
    },
    hub('hub-5k', settings.hubSmall),
    hub('hub-19k', settings.hubLarge),
    {
      id: 'hub-redis',
      servers: 'own',
      title: 'hub-redis, two instances on one Redis',
      description: `Two server processes of the contender on one redis-server the bench starts, ${count(settings.redisTopics)} topics, ` +
        `${count(settings.redisPerSecond)} events/s in all for ${settings.redisDurationMs / 1000} s (each instance publishes half, on half of the topics), ` +
        `${settings.redisStreamsPerTopic} stream per topic on each instance; ${100 * settings.redisDropShare}% of the live messages ` +
        'between Redis and each instance are thrown away on purpose. The client counts gaps and duplicates from the sequence number in each event. ' +
        'CPU per instance and Redis\'s (INFO used_cpu_user + used_cpu_sys) from the first publish until every stream has its topic\'s last event. ' +
        `Replay: a client leaves one instance, misses ${count(settings.redisReplayEvents)} events, and resumes on the other from its last event id; ` +
        'the time is from its request to the last missed event. The reference is plain PUB/SUB: at most once, nothing to replay.',
      metrics: hubRedisMetrics,
      reps: s => s.hubReps,
      contenders: [REDIS_REFERENCE, 'typed-sse-hub-redis'],
      reference: REDIS_REFERENCE,
      unavailable: () => findRedisServer() === undefined ? `redis-server not found (${REDIS_INSTALL})` : undefined,
      run: context => hubRedisWorkload(context)
    },
    {
      id: 'hub-redis-cluster',
      servers: 'own',
      title: 'hub-redis-cluster, two instances on a 3-master Redis Cluster',
      description: 'As hub-redis, on a local Redis Cluster the bench starts (3 masters, 3 replicas), with a graceful CLUSTER FAILOVER of one ' +
        'master halfway through the run. Redis CPU is the sum of all six nodes. The reference is sharded PUB/SUB by hand ' +
        '(SPUBLISH/SSUBSCRIBE, one channel per topic): at most once, nothing to replay.',
      metrics: hubRedisMetrics,
      reps: s => s.hubReps,
      contenders: [REDIS_SHARDED_REFERENCE, 'typed-sse-hub-redis'],
      reference: REDIS_SHARDED_REFERENCE,
      unavailable: () => findRedisServer() === undefined || findRedisCli() === undefined ? `redis-server or redis-cli not found (${REDIS_INSTALL} redis-tools)` : undefined,
      run: context => hubRedisWorkload(context, true)
    }
  ]
}
