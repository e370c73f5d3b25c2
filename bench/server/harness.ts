// What every contender's server process shares: it listens on 127.0.0.1:0, reports its
// port to the runner, and answers the runner's questions about CPU, memory and streams.

import { writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import type {
  BroadcastResult, CpuTime, FillArgs, MemoryFigures, Reply, Request, ServerState, TopicsPublishArgs, TopicsPublishResult
} from '../protocol.js'
import { generators, idleWaiting, now, type Tick } from './sources.js'

/** How a contender broadcasts to its fanout streams. */
export interface Fanout {
  /**
   * Streams subscribed and waiting for the next broadcast, or `undefined` when the
   * server cannot tell without adding work per stream (the client counts them then).
   */
  size (): number | undefined
  /** One broadcast; the hub's publish is asynchronous and may reject. */
  publish (tick: Tick): void | Promise<unknown>
  /** Ends every fanout stream. */
  end (): void | Promise<void>
}

/** The events of the hub-redis workload: a sequence number per topic, and when it was published. */
export interface SeqTick {
  seq: number
  ts: number
}

/** How a contender publishes on many topics (hub-redis); topic `name` is served at `/topics/<name>`. */
export interface Topics {
  publish (name: string, tick: SeqTick): Promise<unknown>
}

export interface Contender {
  server: Server
  fanout?: Fanout
  topics?: Topics
}

/** Workload sizes come with each request; defaults keep a manual curl short. */
export function countParam (url: string | undefined, fallback: number): number {
  const match = /[?&]n=(\d+)/.exec(url ?? '')
  return match === null ? fallback : Number(match[1])
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  connection: 'keep-alive'
}

const gc = (globalThis as { gc?: () => void }).gc

let cpuStart: { usage: NodeJS.CpuUsage, time: number } | undefined

// With BENCH_PROFILE_DIR set, every measured window is also CPU-profiled (which slows it down);
// with BENCH_HEAP_PROFILE_DIR, the sampling heap profiler records what it allocates, garbage
// included (summarized by heap-top.ts).
const profileDir = process.env.BENCH_PROFILE_DIR
const heapProfileDir = process.env.BENCH_HEAP_PROFILE_DIR
let inspector: Session | undefined
let profileLabel = ''

function post (method: string, params?: object): Promise<any> {
  return new Promise((resolve, reject) => {
    inspector?.post(method, params, (err, result) => err === null ? resolve(result) : reject(err))
  })
}

async function startProfile (label: string | undefined): Promise<void> {
  if (profileDir === undefined && heapProfileDir === undefined) return
  if (inspector === undefined) {
    inspector = new Session()
    inspector.connect()
    if (profileDir !== undefined) {
      await post('Profiler.enable')
      await post('Profiler.setSamplingInterval', { interval: 100 })
    }
    if (heapProfileDir !== undefined) await post('HeapProfiler.enable')
  }
  profileLabel = label ?? 'run'
  if (profileDir !== undefined) await post('Profiler.start')
  if (heapProfileDir !== undefined) {
    await post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  }
}

async function stopProfile (): Promise<void> {
  if (inspector === undefined) return
  const instance = process.env.BENCH_INSTANCE === undefined ? '' : `-${process.env.BENCH_INSTANCE}`
  const name = `${process.env.BENCH_CONTENDER ?? 'server'}${instance}-${profileLabel}`
  if (profileDir !== undefined) {
    const { profile } = await post('Profiler.stop') as { profile: unknown }
    writeFileSync(join(profileDir, name + '.cpuprofile'), JSON.stringify(profile))
  }
  if (heapProfileDir !== undefined) {
    const { profile } = await post('HeapProfiler.stopSampling') as { profile: unknown }
    writeFileSync(join(heapProfileDir, name + '.heapprofile'), JSON.stringify(profile))
  }
}

function cpuSince (start: { usage: NodeJS.CpuUsage, time: number }): CpuTime {
  const usage = process.cpuUsage(start.usage)
  return { cpuMicros: usage.user + usage.system, wallMillis: performance.now() - start.time }
}

function memory (): MemoryFigures {
  if (gc !== undefined) {
    // Twice: the first pass may only schedule finalization of what the second frees.
    gc()
    gc()
  }
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsed, rss }
}

export interface BroadcastArgs {
  count: number
  intervalMs: number
  /** events published together every intervalMs (default 1), the way an upstream feed delivers them */
  batch?: number
  /** a server that cannot keep up stops publishing after this long */
  maxMs: number
  label?: string
}

/** Counts the publishes that reject, and knows when none is in flight. */
class Publishes {
  errors = 0
  firstError: string | undefined
  private pending = 0
  private idle: (() => void) | undefined

  track (result: void | Promise<unknown>): void {
    if (result === undefined) return
    this.pending++
    result.then(() => this.settled(), (err: Error) => {
      this.errors++
      this.firstError ??= err.message
      this.settled()
    })
  }

  /** Resolves once every publish tracked so far has settled. */
  drained (): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise(resolve => { this.idle = resolve })
  }

  private settled (): void {
    if (--this.pending === 0) this.idle?.()
  }
}

function startCpu (): void {
  cpuStart = { usage: process.cpuUsage(), time: performance.now() }
}

/**
 * One event every `intervalMs`; a server whose event loop lags behind publishes fewer
 * within `maxMs`. Opens the CPU window: the runner closes it (`cpu:stop`) once the
 * clients have every event, so the deliveries that follow the last publish count too.
 */
async function broadcast (fanout: Fanout, args: BroadcastArgs): Promise<BroadcastResult> {
  await startProfile(args.label)
  startCpu()
  const publishes = new Publishes()
  const start = performance.now()
  const batch = args.batch ?? 1
  let sent = 0
  await new Promise<void>(resolve => {
    const timer = setInterval(() => {
      for (let i = 0; i < batch && sent < args.count; i++) {
        publishes.track(fanout.publish({ value: sent, ts: now() }))
        sent++
      }
      if (sent === args.count || performance.now() - start > args.maxMs) {
        clearInterval(timer)
        resolve()
      }
    }, args.intervalMs)
  })
  await publishes.drained()
  return { events: sent, publishErrors: publishes.errors, firstError: publishes.firstError }
}

/**
 * `perSecond` events spread over `topics` round-robin for `durationMs`, each topic with
 * its own sequence. Paced by the clock, not by a timer per event: a late turn of the
 * event loop publishes what fell due meanwhile. Opens the CPU window like broadcast.
 */
async function publishTopics (topics: Topics, args: TopicsPublishArgs): Promise<TopicsPublishResult> {
  if (args.topics.length === 0) throw new Error('no topics to publish on')
  await startProfile(args.label)
  startCpu()
  const publishes = new Publishes()
  const names = args.topics.map(String)
  const counts = new Array<number>(args.topics.length).fill(0)
  const total = Math.round(args.perSecond * args.durationMs / 1000)
  const start = performance.now()
  let sent = 0
  await new Promise<void>(resolve => {
    const turn = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) * args.perSecond / 1000))
      for (; sent < due; sent++) {
        const index = sent % names.length
        const seq = counts[index] as number
        counts[index] = seq + 1
        publishes.track(topics.publish(names[index] as string, { seq, ts: now() }))
      }
      if (sent < total) setTimeout(turn, 2)
      else resolve()
    }
    turn()
  })
  await publishes.drained()
  return {
    elapsedMs: performance.now() - start,
    published: args.topics.map((topic, index) => [topic, counts[index] as number]),
    publishErrors: publishes.errors,
    firstError: publishes.firstError
  }
}

/** `count` events on one topic as fast as the engine takes them (at most 500 in flight); resolves when all are stored. */
async function fill (topics: Topics, args: FillArgs): Promise<{ elapsedMs: number }> {
  const start = performance.now()
  let seq = 0
  const worker = async (): Promise<void> => {
    while (seq < args.count) await topics.publish(args.topic, { seq: seq++, ts: now() })
  }
  await Promise.all(Array.from({ length: Math.min(500, args.count) }, worker))
  return { elapsedMs: performance.now() - start }
}

function fanoutOf (contender: Contender): Fanout {
  if (contender.fanout === undefined) throw new Error('this server has no fanout')
  return contender.fanout
}

function topicsOf (contender: Contender): Topics {
  if (contender.topics === undefined) throw new Error('this server has no topics')
  return contender.topics
}

async function answer (contender: Contender, request: Request): Promise<unknown> {
  switch (request.command) {
    case 'cpu:start':
      await startProfile((request.args as { label?: string } | undefined)?.label)
      startCpu()
      return null
    case 'cpu:stop': {
      if (cpuStart === undefined) throw new Error('cpu:stop without cpu:start')
      const cpu = cpuSince(cpuStart)
      cpuStart = undefined
      await stopProfile()
      return cpu
    }
    case 'memory':
      return memory()
    case 'state': {
      const connections = await new Promise<number>((resolve, reject) =>
        contender.server.getConnections((err, count) => err === null ? resolve(count) : reject(err)))
      return {
        generatorsStarted: generators.started,
        generatorsFinalized: generators.finalized,
        idleWaiting: idleWaiting(),
        connections,
        fanoutStreams: contender.fanout?.size() ?? null
      } satisfies ServerState
    }
    case 'exit':
      // A normal exit, so that --cpu-prof writes its profile.
      setImmediate(() => process.exit(0))
      return null
    case 'broadcast':
      return await broadcast(fanoutOf(contender), request.args as BroadcastArgs)
    case 'fanout:end':
      await fanoutOf(contender).end()
      return null
    case 'topics:publish':
      return await publishTopics(topicsOf(contender), request.args as TopicsPublishArgs)
    case 'topics:fill':
      return await fill(topicsOf(contender), request.args as FillArgs)
    default:
      throw new Error(`unknown command ${request.command}`)
  }
}

/** Starts the contender, reports its port, then serves the runner's requests until killed. */
export function serve (start: () => Promise<Contender>): void {
  // tsx turns on source-mapped stack traces; with them every Error a server formats
  // (Node makes one for each connection reset) costs a source-map lookup.
  process.setSourceMapsEnabled(false)
  // The runner went away: nothing left to do.
  process.on('disconnect', () => process.exit(0))
  start().then(contender => {
    process.on('message', (message: Request) => {
      answer(contender, message).then(
        result => process.send?.({ id: message.id, ok: true, result } satisfies Reply),
        (err: Error) => process.send?.({ id: message.id, ok: false, error: err.stack ?? String(err) } satisfies Reply)
      )
    })
    const address = contender.server.address()
    if (address === null || typeof address === 'string') throw new Error('the server is not listening on TCP')
    process.send?.({ ready: true, port: address.port })
  }).catch(err => {
    console.error(err)
    process.exit(1)
  })
}
