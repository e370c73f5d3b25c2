// `npm run soak -- --minutes 60` (default 10): an hour (or ten minutes) of load
// with faults, on real processes. One redis-server with AOF, two app instances
// (bench/soak/instance.ts) on it, nginx round-robin in front; the load process
// (bench/soak/load.ts) runs the clients, a share of them reconnecting every
// second, and publishes over many topics. Redis is restarted every period and its
// port blackholed (iptables, no RST) for a while in the middle of every period.
// Every 10 s it samples each instance (heap after a GC, RSS, open streams, event
// loop delay p99) and the clients (delivered, latency, gaps, duplicates, resets),
// writes bench/results/soak-<minutes>min.{md,svg,json}, and exits 1 when a check
// fails. Needs redis-server, nginx and iptables (root).
//
// Options: --minutes (10), --rate events/s (2000), --clients (2000), --topics (200),
// --churn share reconnecting per second (0.1). Runs shorter than 10 minutes scale the
// period (half the run), the blackhole (a sixth of the period, at most 10 s), the
// warm-up (a quarter of the run, at most 5 minutes), the sampling (5 s under 10 minutes)
// and the default rate and clients (by minutes/10, at least a quarter).

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { dropPort, iptablesProblem, IPTABLES_INSTALL, type Teardowns } from '../../test/helpers/iptables.js'
import { startNginx } from '../../test/helpers/nginx.js'
import { findProgram } from '../../test/helpers/programs.js'
import { REDIS_INSTALL, startRedis } from '../../test/helpers/redis-server.js'
import { Child } from '../processes.js'
import type { LoadSample, LoadSettings } from './load.js'
import { checkSoak, soakChart, soakTable, type Fault, type Sample, type SoakPlan } from './report.js'

const ROOT = join(__dirname, '..', '..')

function plan (): SoakPlan {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      topics: { type: 'string', default: '200' },
      churn: { type: 'string', default: '0.1' }
    }
  })
  const minutes = Number(values.minutes)
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${values.minutes}`)
  const seconds = minutes * 60
  const scale = Math.max(0.25, Math.min(1, minutes / 10))
  const number = (value: string | undefined, fallback: number, what: string): number => {
    const parsed = value === undefined ? fallback : Number(value)
    if (!(parsed > 0)) throw new Error(`--${what} must be a positive number, got ${value}`)
    return parsed
  }
  const periodS = Math.min(600, seconds / 2)
  return {
    minutes,
    rate: Math.round(number(values.rate, 2000 * scale, 'rate')),
    clients: Math.round(number(values.clients, 2000 * scale, 'clients')),
    topics: Math.round(number(values.topics, 200, 'topics')),
    churn: number(values.churn, 0.1, 'churn'),
    periodS,
    blackholeS: Math.min(10, periodS / 6),
    warmupS: Math.min(300, seconds / 4),
    sampleS: minutes < 10 ? 5 : 10
  }
}

interface SoakInstance {
  readonly url: string
  readonly child: ChildProcess
}

async function startInstance (redisUrl: string, name: string): Promise<SoakInstance> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(__dirname, 'instance.ts')], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  createInterface({ input: child.stderr }).on('line', line => console.error(`[${name}] ${line}`))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen within 60 s`)), 60_000)
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer)
      resolve((JSON.parse(line) as { url: string }).url)
    })
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)))
  })
  return { url, child }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function instanceStats (url: string): Promise<Sample['instances'][number]> {
  const response = await fetch(url + '/soak/stats', { signal: AbortSignal.timeout(10_000) })
  const stats = await response.json() as { heapUsed: number, rss: number, open: number, loopDelayP99Ms: number, health: { ready: boolean } }
  return { heapMB: stats.heapUsed / 2 ** 20, rssMB: stats.rss / 2 ** 20, open: stats.open, loopDelayP99Ms: stats.loopDelayP99Ms, ready: stats.health.ready }
}

async function main (): Promise<number> {
  const settings = plan()
  const problems = [
    findProgram('redis-server') === undefined ? `redis-server is not on PATH; install it with: ${REDIS_INSTALL}` : undefined,
    findProgram('nginx') === undefined ? 'nginx is not on PATH; install it with: apt-get install -y nginx' : undefined,
    iptablesProblem()
  ].filter(problem => problem !== undefined)
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem)
    console.error(`(the soak blackholes Redis with iptables: ${IPTABLES_INSTALL}, run as root)`)
    return 1
  }

  const cleanups: Array<() => unknown> = []
  const teardowns: Teardowns = { teardown: fn => { cleanups.push(fn) } }
  const instances: SoakInstance[] = []
  let load: Child | undefined
  const stopAll = async (): Promise<void> => {
    await load?.stop()
    await Promise.all(instances.map(instance => stopChild(instance.child)))
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { stopAll().finally(() => process.exit(130)) })
  }

  try {
    console.log(`soak: ${settings.minutes} min, ${settings.clients} clients (${settings.churn * 100}% reconnect each second), ` +
      `${settings.rate} events/s over ${settings.topics} topics; Redis restarted every ${settings.periodS} s, ` +
      `blackholed ${settings.blackholeS} s in the middle of each period; heap checked after ${settings.warmupS} s`)
    const redis = await startRedis(teardowns, findProgram('redis-server') as string, { aof: true, startTimeoutMs: 120_000 })
    instances.push(...await Promise.all(['A', 'B'].map(name => startInstance(redis.url, name))))
    const nginx = await startNginx(teardowns, findProgram('nginx') as string, {
      upstreamPort: instances.map(instance => Number(new URL(instance.url).port)),
      workerConnections: settings.clients * 2 + 512
    })
    load = new Child('load', join(__dirname, 'load.ts'), { cwd: ROOT })
    await load.ready
    const loadSettings: LoadSettings = {
      nginxUrl: nginx.url,
      instanceUrls: instances.map(instance => instance.url),
      clients: settings.clients,
      topics: settings.topics,
      rate: settings.rate,
      churn: settings.churn
    }
    await load.request('start', loadSettings, 120_000)
    const started = Date.now()
    const elapsed = (): number => (Date.now() - started) / 1000
    console.log(`${settings.clients} clients connected; publishing`)

    const faults: Fault[] = []
    let faultError: unknown
    const faultsDone = (async () => {
      const until = async (at: number): Promise<void> => {
        const wait = started + at * 1000 - Date.now()
        if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
      }
      for (let k = 1; k * settings.periodS - settings.periodS / 2 < settings.minutes * 60; k++) {
        const blackholeAt = (k - 0.5) * settings.periodS
        await until(blackholeAt)
        const drop = await dropPort(teardowns, redis.port)
        const fault: Fault = { kind: 'blackhole', start: elapsed(), end: NaN }
        faults.push(fault)
        console.log(`${fault.start.toFixed(0)} s: Redis blackholed for ${settings.blackholeS} s`)
        await new Promise(resolve => setTimeout(resolve, settings.blackholeS * 1000))
        await drop.remove()
        fault.end = elapsed()
        const restartAt = k * settings.periodS
        if (restartAt >= settings.minutes * 60) break
        await until(restartAt)
        const restart: Fault = { kind: 'restart', start: elapsed(), end: NaN }
        faults.push(restart)
        await redis.stop()
        await redis.start()
        restart.end = elapsed()
        console.log(`${restart.start.toFixed(0)} s: Redis restarted (${(restart.end - restart.start).toFixed(1)} s)`)
      }
    })().catch((err: unknown) => {
      // Recorded as a failed check; the run goes on to its end and writes its results.
      faultError = err
      console.error('a fault could not be applied:', err)
    })

    const samples: Sample[] = []
    const take = async (final: boolean): Promise<Sample> => {
      const [loadSample, ...stats] = await Promise.all([
        (load as Child).request<LoadSample>('sample', final),
        ...instances.map(instance => instanceStats(instance.url))
      ])
      const sample: Sample = { t: elapsed(), instances: stats, load: loadSample as LoadSample }
      samples.push(sample)
      const l = sample.load
      console.log(`${sample.t.toFixed(0).padStart(5)} s  heap ${stats.map(s => s.heapMB.toFixed(1)).join('/')} MB  open ${stats.map(s => s.open).join('/')}  ` +
        `loop p99 ${stats.map(s => s.loopDelayP99Ms.toFixed(0)).join('/')} ms  delivered ${l.delivered}  p50/p99 ${l.latencyP50Ms}/${l.latencyP99Ms} ms  ` +
        `published ${l.published} rejected ${l.rejected} gaps ${l.gaps} dups ${l.duplicates} resets ${l.resets.length} connected ${l.connected}`)
      return sample
    }
    while (elapsed() < settings.minutes * 60) {
      const next = started + (Math.floor(elapsed() / settings.sampleS) + 1) * settings.sampleS * 1000
      await new Promise(resolve => setTimeout(resolve, Math.max(0, Math.min(next, started + settings.minutes * 60_000) - Date.now())))
      // A sample that fails (an instance too busy to answer in 10 s) is left out, and said.
      if (elapsed() < settings.minutes * 60 - 0.5) await take(false).catch((err: unknown) => { console.error(`${elapsed().toFixed(0)} s: no sample: ${String(err)}`) })
    }
    await faultsDone
    const drained = await load.request<{ caughtUp: number, behind: string[] }>('drain', 60_000, 90_000)
    await take(true)

    const result = checkSoak(settings, samples, faults, drained, started)
    if (faultError !== undefined) result.checks.push({ what: 'faults applied', ok: false, detail: String(faultError) })
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    const base = join(dir, `soak-${settings.minutes}min`)
    writeFileSync(base + '.md', soakTable(settings, samples, faults, result))
    writeFileSync(base + '.svg', soakChart(settings, samples, faults))
    writeFileSync(base + '.json', JSON.stringify({ settings, faults, samples, result }, null, 1) + '\n')
    for (const check of result.checks) console.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.what}: ${check.detail}`)
    console.log(`wrote ${base}.md, .svg and .json`)
    return result.checks.every(check => check.ok) ? 0 : 1
  } finally {
    await stopAll()
  }
}

main().then(code => { process.exitCode = code }, (err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
