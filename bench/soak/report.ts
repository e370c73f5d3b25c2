// The soak's checks, its markdown table and its SVG chart, from the samples.

import type { LoadSample } from './load.js'

export interface SoakPlan {
  minutes: number
  rate: number
  clients: number
  topics: number
  churn: number
  /** Redis is restarted every period, and blackholed in the middle of each. */
  periodS: number
  blackholeS: number
  /** Heap growth is measured from the end of the warm-up. */
  warmupS: number
  sampleS: number
}

export interface Fault {
  kind: 'restart' | 'blackhole'
  /** Seconds since the start of the load. */
  start: number
  end: number
}

export interface Sample {
  t: number
  instances: Array<{ heapMB: number, rssMB: number, open: number, loopDelayP99Ms: number, ready: boolean }>
  load: LoadSample
}

export interface SoakResult {
  checks: Array<{ what: string, ok: boolean, detail: string }>
  heapGrowthMB: number[]
  resets: number
  unexplainedResets: number
}

/** A reset counts as explained when it comes during a fault or this long after it. */
const RESET_GRACE_S = 30
const HEAP_LIMIT_MB = 5

/** `startedAtMs`: the wall-clock time the load started (resets carry wall-clock times). */
export function checkSoak (plan: SoakPlan, samples: Sample[], faults: Fault[], drained: { caughtUp: number, behind: string[] }, startedAtMs: number): SoakResult {
  const last = samples.at(-1) as Sample
  const after = samples.filter(sample => sample.t >= plan.warmupS)
  const instances = last.instances.length
  const heapGrowthMB = Array.from({ length: instances }, (_, i) => {
    const heaps = after.map(sample => sample.instances[i]!.heapMB)
    return median(heaps.slice(-3)) - median(heaps.slice(0, 3))
  })
  const resets = samples.flatMap(sample => sample.load.resets)
  const unexplained = resets.filter(reset => {
    const at = (reset.at - startedAtMs) / 1000
    return !faults.some(fault => at >= fault.start - 1 && at <= fault.end + RESET_GRACE_S)
  })
  const checks = [
    ...heapGrowthMB.map((growth, i) => ({
      what: `heap growth of instance ${'AB'[i] ?? i} after ${plan.warmupS} s`,
      ok: after.length >= 2 && growth < HEAP_LIMIT_MB,
      detail: `${growth.toFixed(2)} MB (limit ${HEAP_LIMIT_MB} MB; medians of the first and last three samples)`
    })),
    { what: 'gaps', ok: last.load.gaps === 0, detail: String(last.load.gaps) },
    { what: 'duplicates', ok: last.load.duplicates === 0, detail: String(last.load.duplicates) },
    { what: 'resets explained by a restart or a blackhole', ok: unexplained.length === 0, detail: `${resets.length} resets, ${unexplained.length} unexplained` },
    { what: 'every client caught up at the end', ok: drained.caughtUp === last.load.connected || drained.behind.length === 0, detail: `${drained.caughtUp} caught up${drained.behind.length > 0 ? '; behind: ' + drained.behind.join('; ') : ''}` },
    { what: 'faults happened', ok: faults.some(f => f.kind === 'restart') && faults.some(f => f.kind === 'blackhole'), detail: faults.map(f => `${f.kind} at ${f.start.toFixed(0)} s`).join(', ') }
  ]
  return { checks, heapGrowthMB, resets: resets.length, unexplainedResets: unexplained.length }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export function soakTable (plan: SoakPlan, samples: Sample[], faults: Fault[], result: SoakResult): string {
  const lines = [
    `# Soak: ${plan.minutes} minutes`,
    '',
    `\`npm run soak -- --minutes ${plan.minutes}\`: two instances on one Redis (AOF) behind nginx, ${plan.clients} clients ` +
    `(${plan.churn * 100}% reconnect each second), ${plan.rate} events/s over ${plan.topics} topics; Redis restarted every ` +
    `${plan.periodS} s and blackholed for ${plan.blackholeS} s in the middle of each period. Node ${process.versions.node}.`,
    '',
    '## Checks',
    '',
    ...result.checks.map(check => `- ${check.ok ? 'ok' : '**FAILED**'}: ${check.what}: ${check.detail}`),
    '',
    '## Faults',
    '',
    ...faults.map(fault => `- ${fault.kind} from ${fault.start.toFixed(1)} s to ${fault.end.toFixed(1)} s`),
    '',
    '## Samples',
    '',
    'Heap after a full GC, RSS, open streams, event-loop delay p99 and readiness (`hub.health().ready`) per instance (A/B); ' +
    'events published (acknowledged) and rejected, delivered events per second and their latency from publish to client since the previous sample; gaps, duplicates and resets in total.',
    '',
    '| s | heap MB | RSS MB | open | loop p99 ms | ready | published | rejected | delivered/s | p50 ms | p99 ms | gaps | dups | resets | connected | fault |',
    '| ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |'
  ]
  let resets = 0
  let previous = 0
  for (const sample of samples) {
    const { instances, load } = sample
    resets += load.resets.length
    const during = faults.filter(fault => fault.start < sample.t && fault.end >= previous).map(fault => fault.kind).join(', ')
    const per = (value: (i: Sample['instances'][number]) => string): string => instances.map(value).join(' / ')
    lines.push(`| ${sample.t.toFixed(0)} | ${per(i => i.heapMB.toFixed(1))} | ${per(i => i.rssMB.toFixed(0))} | ${per(i => String(i.open))} | ` +
      `${per(i => i.loopDelayP99Ms.toFixed(0))} | ${per(i => i.ready ? 'yes' : 'no')} | ${load.published} | ${load.rejected} | ${Math.round(load.delivered / Math.max(1, sample.t - previous))} | ` +
      `${load.latencyP50Ms} | ${load.latencyP99Ms} | ${load.gaps} | ${load.duplicates} | ${resets} | ${load.connected} | ${during} |`)
    previous = sample.t
  }
  return lines.join('\n') + '\n'
}

interface Series {
  name: string
  color: string
  values: Array<[number, number]>
}

/** One panel per measure, time on x, restarts as red lines and blackholes as grey bands. */
export function soakChart (plan: SoakPlan, samples: Sample[], faults: Fault[]): string {
  const colors = ['#1f77b4', '#ff7f0e']
  const perInstance = (name: string, value: (i: Sample['instances'][number]) => number): Series[] =>
    samples[0]!.instances.map((_, k) => ({ name: `${name} ${'AB'[k]}`, color: colors[k]!, values: samples.map(s => [s.t, value(s.instances[k]!)]) }))
  let previous = 0
  const rates = samples.map(sample => {
    const rate = sample.load.delivered / Math.max(1, sample.t - previous)
    previous = sample.t
    return [sample.t, rate] as [number, number]
  })
  const panels: Array<{ title: string, series: Series[] }> = [
    { title: 'heap after GC (MB)', series: perInstance('heap', i => i.heapMB) },
    { title: 'RSS (MB)', series: perInstance('RSS', i => i.rssMB) },
    { title: 'open streams', series: perInstance('open', i => i.open) },
    { title: 'event-loop delay p99 (ms)', series: perInstance('loop p99', i => i.loopDelayP99Ms) },
    { title: 'delivered events/s', series: [{ name: 'delivered', color: '#2ca02c', values: rates }] },
    { title: 'latency p99 (ms, log)', series: [{ name: 'p99', color: '#d62728', values: samples.map(s => [s.t, Math.log10(Math.max(1, s.load.latencyP99Ms))]) }] },
    {
      title: 'gaps, duplicates, resets (total)',
      series: [
        { name: 'gaps', color: '#d62728', values: samples.map(s => [s.t, s.load.gaps]) },
        { name: 'dups', color: '#9467bd', values: samples.map(s => [s.t, s.load.duplicates]) },
        { name: 'resets', color: '#8c564b', values: cumulative(samples.map(s => [s.t, s.load.resets.length])) }
      ]
    }
  ]
  const width = 900
  const left = 70
  const right = 20
  const panelHeight = 110
  const gap = 36
  const top = 40
  const height = top + panels.length * (panelHeight + gap) + 10
  const tMax = Math.max(plan.minutes * 60, samples.at(-1)!.t)
  const x = (t: number): number => left + (t / tMax) * (width - left - right)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14">Soak, ${plan.minutes} min: ${plan.clients} clients, ${plan.rate} events/s, ${plan.topics} topics (red: Redis restart, grey: blackhole)</text>`
  ]
  panels.forEach((panel, p) => {
    const y0 = top + p * (panelHeight + gap) + 14
    const all = panel.series.flatMap(s => s.values.map(v => v[1]))
    const max = Math.max(1e-9, ...all)
    const min = panel.title.startsWith('gaps') || panel.title.startsWith('open') || panel.title.startsWith('delivered') ? 0 : Math.min(...all)
    const span = max - min || 1
    const y = (v: number): number => y0 + panelHeight - ((v - min) / span) * panelHeight
    out.push(`<text x="${left}" y="${y0 - 4}" font-weight="bold">${panel.title}</text>`)
    for (const fault of faults) {
      if (fault.kind === 'blackhole') out.push(`<rect x="${x(fault.start).toFixed(1)}" y="${y0}" width="${Math.max(1, x(fault.end) - x(fault.start)).toFixed(1)}" height="${panelHeight}" fill="#ddd"/>`)
      else out.push(`<line x1="${x(fault.start).toFixed(1)}" x2="${x(fault.start).toFixed(1)}" y1="${y0}" y2="${y0 + panelHeight}" stroke="#e00" stroke-width="1"/>`)
    }
    out.push(`<rect x="${left}" y="${y0}" width="${width - left - right}" height="${panelHeight}" fill="none" stroke="#999"/>`)
    const label = (v: number): string => panel.title.includes('log') ? (10 ** v).toFixed(0) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)
    out.push(`<text x="${left - 4}" y="${y0 + 10}" text-anchor="end">${label(max)}</text>`)
    out.push(`<text x="${left - 4}" y="${y0 + panelHeight}" text-anchor="end">${label(min)}</text>`)
    panel.series.forEach((series, s) => {
      const points = series.values.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
      out.push(`<polyline points="${points}" fill="none" stroke="${series.color}" stroke-width="1.5"/>`)
      out.push(`<text x="${width - right - 4}" y="${y0 + 12 + s * 12}" text-anchor="end" fill="${series.color}">${series.name}</text>`)
    })
    out.push(`<text x="${width - right}" y="${y0 + panelHeight + 12}" text-anchor="end">${tMax.toFixed(0)} s</text>`)
    out.push(`<text x="${left}" y="${y0 + panelHeight + 12}">0 s</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function cumulative (values: Array<[number, number]>): Array<[number, number]> {
  let total = 0
  return values.map(([t, v]) => {
    total += v
    return [t, total]
  })
}
