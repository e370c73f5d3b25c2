// What every contender's server process shares: it listens on 127.0.0.1:0, reports its
// port to the runner, and answers the runner's questions about CPU, memory and streams.

import { writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import type { BroadcastResult, CpuTime, MemoryFigures, Reply, Request, ServerState } from '../protocol.js'
import { generators, idleWaiting, now, type Tick } from './sources.js'

/** How a contender broadcasts to its fanout streams. */
export interface Fanout {
  /** Streams subscribed and waiting for the next broadcast. */
  size (): number
  publish (tick: Tick): void
  /** Ends every fanout stream. */
  end (): void
}

export interface Contender {
  server: Server
  fanout: Fanout
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

// With BENCH_PROFILE_DIR set, every measured window is also CPU-profiled (which slows it down).
const profileDir = process.env.BENCH_PROFILE_DIR
let inspector: Session | undefined
let profileLabel = ''

function post (method: string, params?: object): Promise<any> {
  return new Promise((resolve, reject) => {
    inspector?.post(method, params, (err, result) => err === null ? resolve(result) : reject(err))
  })
}

async function startProfile (label: string | undefined): Promise<void> {
  if (profileDir === undefined) return
  if (inspector === undefined) {
    inspector = new Session()
    inspector.connect()
    await post('Profiler.enable')
    await post('Profiler.setSamplingInterval', { interval: 100 })
  }
  profileLabel = label ?? 'run'
  await post('Profiler.start')
}

async function stopProfile (): Promise<void> {
  if (profileDir === undefined || inspector === undefined) return
  const { profile } = await post('Profiler.stop') as { profile: unknown }
  writeFileSync(join(profileDir, `${process.env.BENCH_CONTENDER ?? 'server'}-${profileLabel}.cpuprofile`), JSON.stringify(profile))
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
  /** a server that cannot keep up stops publishing after this long */
  maxMs: number
  label?: string
}

/** One event every `intervalMs`; a server whose event loop lags behind publishes fewer within `maxMs`. */
async function broadcast (fanout: Fanout, args: BroadcastArgs): Promise<BroadcastResult> {
  await startProfile(args.label)
  const start = { usage: process.cpuUsage(), time: performance.now() }
  let sent = 0
  await new Promise<void>(resolve => {
    const timer = setInterval(() => {
      fanout.publish({ value: sent, ts: now() })
      sent++
      if (sent === args.count || performance.now() - start.time > args.maxMs) {
        clearInterval(timer)
        resolve()
      }
    }, args.intervalMs)
  })
  // The deliveries of the last event finish in the following turns of the event loop.
  await new Promise(resolve => setTimeout(resolve, args.intervalMs))
  const cpu = cpuSince(start)
  await stopProfile()
  fanout.end()
  return { ...cpu, events: sent }
}

async function answer (contender: Contender, request: Request): Promise<unknown> {
  switch (request.command) {
    case 'cpu:start':
      await startProfile((request.args as { label?: string } | undefined)?.label)
      cpuStart = { usage: process.cpuUsage(), time: performance.now() }
      return null
    case 'cpu:stop': {
      if (cpuStart === undefined) throw new Error('cpu:stop without cpu:start')
      const cpu = cpuSince(cpuStart)
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
        fanoutStreams: contender.fanout.size()
      } satisfies ServerState
    }
    case 'exit':
      // A normal exit, so that --cpu-prof writes its profile.
      setImmediate(() => process.exit(0))
      return null
    case 'broadcast':
      return await broadcast(contender.fanout, request.args as BroadcastArgs)
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
