// npm run bench [-- --quick] [--reps N] [--fanout-reps N] [--cycle-reps N] [--hub-reps N] [--redis-rate N] [--workloads a,b] [--contenders x,y]
//                [--profile contender,...] [--write | --no-write]
//
// Runs every workload against every contender, each contender in its own server
// process, interleaved within each repetition; prints the tables and writes
// bench/results/{results.md,results.json,chart.svg}. Environment: BENCH_QUICK=1,
// BENCH_WORKLOADS, BENCH_CONTENDERS do the same as the flags.

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, tmpdir, totalmem, type } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildPlugin } from './build-plugin.js'
import { FULL, QUICK, REFERENCE, ROOT, contenders as allContenders, type Contender, type Settings } from './config.js'
import { Child } from './processes.js'
import { formatValue, markdown, summarize, svgChart, type Results, type Row, type WorkloadResult } from './report.js'
import { workloads as allWorkloads, runsIn, type Figures, type Workload } from './workloads.js'

const BENCH = __dirname

function list (value: string | undefined): string[] | undefined {
  const items = value?.split(',').map(item => item.trim()).filter(item => item !== '')
  return items === undefined || items.length === 0 ? undefined : items
}

function options (): { settings: Settings, workloads: Workload[], contenders: Contender[], profile: string[], write: boolean, merge: boolean } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
      reps: { type: 'string' },
      'fanout-reps': { type: 'string' },
      'cycle-reps': { type: 'string' },
      'hub-reps': { type: 'string' },
      'redis-rate': { type: 'string' },
      workloads: { type: 'string', default: process.env.BENCH_WORKLOADS },
      contenders: { type: 'string', default: process.env.BENCH_CONTENDERS },
      profile: { type: 'string' },
      write: { type: 'boolean' },
      'no-write': { type: 'boolean' }
    }
  })
  const settings: Settings = { ...(values.quick === true ? QUICK : FULL) }
  if (values.reps !== undefined) settings.reps = Number(values.reps)
  if (values['fanout-reps'] !== undefined) settings.fanoutReps = Number(values['fanout-reps'])
  if (values['cycle-reps'] !== undefined) settings.cycleReps = Number(values['cycle-reps'])
  if (values['hub-reps'] !== undefined) settings.hubReps = Number(values['hub-reps'])
  if (values['redis-rate'] !== undefined) settings.redisPerSecond = Number(values['redis-rate'])
  for (const [name, value] of Object.entries({ reps: settings.reps, 'fanout-reps': settings.fanoutReps, 'cycle-reps': settings.cycleReps, 'hub-reps': settings.hubReps, 'redis-rate': settings.redisPerSecond })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, not ${String(value)}`)
  }

  const workloadNames = list(values.workloads)
  const contenderNames = list(values.contenders)
  for (const name of workloadNames ?? []) {
    if (!allWorkloads(settings).some(w => w.id.startsWith(name))) throw new Error(`unknown workload "${name}"`)
  }
  for (const name of contenderNames ?? []) {
    if (!allContenders().some(c => c.id === name)) throw new Error(`unknown contender "${name}"`)
  }
  const workloads = allWorkloads(settings).filter(w => {
    if (workloadNames !== undefined && !workloadNames.some(name => w.id.startsWith(name))) return false
    const unavailable = w.unavailable?.()
    if (unavailable !== undefined) console.error(`skipping ${w.id}: ${unavailable}`)
    return unavailable === undefined
  })
  // The references always run: every figure is also a ratio to one.
  const references = new Set([REFERENCE, ...workloads.flatMap(w => w.reference ?? [])])
  const contenders = allContenders().filter(c =>
    (contenderNames === undefined || references.has(c.id) || contenderNames.includes(c.id)) && workloads.some(w => runsIn(w, c)))
  const selected = workloadNames !== undefined || contenderNames !== undefined
  const profile = list(values.profile) ?? []
  // Only a full, unfiltered, unprofiled run replaces the committed results, unless asked otherwise.
  const write = values['no-write'] === true ? false : values.write === true || (!settings.quick && !selected && profile.length === 0)
  // A selection written with --write replaces its own tables in the committed results and keeps the others.
  return { settings, workloads, contenders, profile, write, merge: write && selected }
}

/** Which version of the plugin was measured: the commit, and whether its sources differ from it. */
function pluginVersion (): { commit: string, modified: boolean } {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
    return { commit: git('rev-parse', '--short', 'HEAD'), modified: git('status', '--porcelain', '--', 'index.ts', 'lib', 'types/index.ts') !== '' }
  } catch {
    return { commit: 'unknown', modified: false }
  }
}

function startServer (contender: Contender, profileDir: string | undefined, plugin: string, extraEnv: Record<string, string> = {}): Child {
  // NODE_PATH: the compiled plugin lives outside the repository but needs its dependencies.
  const env: NodeJS.ProcessEnv = {
    ...contender.env, ...extraEnv, BENCH_CONTENDER: contender.id, BENCH_PLUGIN: plugin, NODE_PATH: join(ROOT, 'node_modules')
  }
  if (profileDir !== undefined) env.BENCH_PROFILE_DIR = profileDir
  return new Child(contender.id, join(BENCH, contender.file), { cwd: ROOT, execArgv: ['--expose-gc'], env })
}

/** The committed results with the tables of this run in place of theirs, in the order of the workloads. */
function mergeResults (fresh: WorkloadResult[], settings: Settings): WorkloadResult[] {
  const file = join(BENCH, 'results', 'results.json')
  if (!existsSync(file)) return fresh
  const committed = JSON.parse(readFileSync(file, 'utf8')) as Results
  const kept = new Map<string, WorkloadResult>(committed.workloads.map(workload => [workload.id, {
    ...workload,
    // Results written before these fields existed.
    reference: workload.reference ?? REFERENCE,
    measured: workload.measured ?? {
      command: committed.meta.command, date: committed.meta.date, ...committed.meta.plugin, loadAverageAtStart: committed.meta.machine.loadAverageAtStart
    }
  }]))
  for (const workload of fresh) kept.set(workload.id, workload)
  const order = allWorkloads(settings).map(workload => workload.id)
  return [...kept.values()].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))
}

function describe (figures: Figures, workload: Workload): string {
  return workload.metrics.map(m => `${m.label} ${formatValue(figures[m.key] ?? NaN, m.unit)}`).join(', ')
}

async function main (): Promise<void> {
  const started = performance.now()
  const { settings, workloads, contenders, profile, write, merge } = options()
  const profileDir = profile.length > 0 ? mkdtempSync(join(tmpdir(), 'bench-profile-')) : undefined
  const compiled = buildPlugin()
  const load = loadavg()
  if (load[0] !== undefined && load[0] > 0.5 * cpus().length) {
    console.error(`note: load average ${load[0].toFixed(2)} on ${cpus().length} cores; other work on this machine skews absolute figures (ratios less so)`)
  }

  // Client processes: the first serves every workload, the others join for the largest fanouts.
  const clientPool: Child[] = []
  const clients = async (count: number): Promise<Child[]> => {
    for (let index = 0; index < Math.max(1, count); index++) {
      if (clientPool[index]?.alive !== true) clientPool[index] = new Child(`client ${index + 1}`, join(BENCH, 'client.ts'), { cwd: ROOT })
    }
    const wanted = clientPool.slice(0, Math.max(1, count))
    await Promise.all(wanted.map(client => client.ready))
    return wanted
  }
  const results: WorkloadResult[] = workloads.map(w => ({
    id: w.id,
    title: w.title,
    description: w.description,
    metrics: w.metrics,
    reference: w.reference ?? REFERENCE,
    scale: w.scale,
    rows: contenders.filter(c => runsIn(w, c)).map((c): Row => ({ contender: c.id, label: c.label, runs: [], median: {}, ratio: {} }))
  }))
  const reps = Math.max(...workloads.map(w => w.reps(settings)))
  let failures = 0

  for (let rep = 0; rep < reps; rep++) {
    const servers = new Map<string, Child>()
    const serverOf = async (contender: Contender): Promise<Child> => {
      let server = servers.get(contender.id)
      if (server === undefined || !server.alive) {
        server = startServer(contender, profile.includes(contender.id) ? profileDir : undefined, compiled)
        servers.set(contender.id, server)
      }
      await server.ready
      return server
    }
    const shared = workloads.filter(w => w.servers === 'shared' && rep < w.reps(settings))
    for (const contender of contenders) {
      if (shared.some(w => runsIn(w, contender))) await serverOf(contender)
    }

    // A different contender goes first in each repetition.
    const order = [...contenders.slice(rep % contenders.length), ...contenders.slice(0, rep % contenders.length)]
    for (const [index, workload] of workloads.entries()) {
      if (rep >= workload.reps(settings)) continue
      for (const contender of order) {
        if (!runsIn(workload, contender)) continue
        const runStart = performance.now()
        const row = results[index]?.rows.find(r => r.contender === contender.id) as Row
        const prefix = `[${rep + 1}/${reps}] ${workload.id.padEnd(9)} ${contender.id.padEnd(20)}`
        const launched: Child[] = []
        try {
          const [client] = await clients(1) as [Child]
          const base = { contender, client, clients, settings, label: `${workload.id}-${rep + 1}` }
          let figures: Figures
          if (workload.servers === 'shared') {
            const server = await serverOf(contender)
            figures = await workload.run({ ...base, server, port: await server.ready })
          } else {
            const launch = (env: Record<string, string>): Child => {
              const child = startServer(contender, profile.includes(contender.id) ? profileDir : undefined, compiled, { ...env, BENCH_INSTANCE: String(launched.length + 1) })
              launched.push(child)
              return child
            }
            figures = await workload.run({ ...base, launch })
          }
          row.runs.push({ rep, figures })
          console.error(`${prefix} ${describe(figures, workload)} (${((performance.now() - runStart) / 1000).toFixed(1)} s)`)
        } catch (err) {
          failures++
          const message = (err as Error).message
          row.runs.push({ rep, error: message })
          console.error(`${prefix} ERROR ${message.split('\n')[0]}`)
          // Whatever state the failure left behind must not leak into the next run.
          if (workload.servers === 'shared') await servers.get(contender.id)?.stop()
          for (const client of clientPool) if (client.alive) await client.stop()
        } finally {
          for (const child of launched) await child.stop()
        }
      }
    }
    for (const server of servers.values()) await server.stop()
  }
  for (const client of clientPool) await client.stop()
  rmSync(dirname(compiled), { recursive: true, force: true })

  const command = 'npm run bench' + (process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : '')
  const date = new Date().toISOString()
  const plugin = pluginVersion()
  for (const workload of results) {
    summarize(workload)
    workload.measured = { command, date, commit: plugin.commit, modified: plugin.modified, loadAverageAtStart: load }
  }
  const report: Results = {
    meta: {
      date,
      command,
      machine: {
        cpu: cpus()[0]?.model.trim() ?? 'unknown',
        cores: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        os: `${type()} ${release()}`,
        node: process.version,
        loadAverageAtStart: load
      },
      settings,
      plugin,
      durationSec: (performance.now() - started) / 1000
    },
    workloads: merge ? mergeResults(results, settings) : results
  }
  const text = markdown(report)
  console.log(text)
  if (write) {
    const out = join(BENCH, 'results')
    mkdirSync(out, { recursive: true })
    writeFileSync(join(out, 'results.md'), text)
    writeFileSync(join(out, 'results.json'), JSON.stringify(report, null, 2) + '\n')
    writeFileSync(join(out, 'chart.svg'), svgChart(report))
    console.error('wrote bench/results/results.md, results.json, chart.svg')
  }
  if (profileDir !== undefined) {
    console.error(`CPU profiles of the measured windows (profiled runs are slower): ${profileDir}`)
    console.error('summarize one with: node --import tsx bench/profile-top.ts FILE.cpuprofile')
  }
  if (failures > 0) {
    console.error(`${failures} run(s) failed: see the tables`)
    process.exitCode = 1
  }
}

main().catch(err => {
  console.error(err)
  process.exitCode = 1
})
