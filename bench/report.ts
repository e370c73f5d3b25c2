// Results to figures: medians, ratios to the reference, the markdown tables and the SVG chart.

import type { Figures, Metric } from './workloads.js'

export interface Run {
  rep: number
  figures?: Figures
  error?: string
}

export interface Row {
  contender: string
  label: string
  runs: Run[]
  /** medians over the repetitions */
  median: Figures
  /** medians of the per-repetition ratios to the reference */
  ratio: Figures
  error?: string
}

export interface WorkloadResult {
  id: string
  title: string
  description: string
  metrics: Metric[]
  /** the contender whose figures are 1.00× */
  reference: string
  /** subscribers, for the workloads that grow to find the largest count a contender serves */
  scale?: number
  /** the run that measured it (results merged from several runs keep each one's) */
  measured?: Measured
  rows: Row[]
}

export interface Measured {
  command: string
  date: string
  commit: string
  modified: boolean
  loadAverageAtStart: number[]
}

export interface Results {
  meta: {
    date: string
    command: string
    machine: { cpu: string, cores: number, memoryGiB: number, os: string, node: string, loadAverageAtStart: number[] }
    settings: unknown
    plugin: { commit: string, modified: boolean }
    durationSec: number
  }
  workloads: WorkloadResult[]
}

export function median (values: number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** Fills in medians and ratios; a contender with a failed run shows the failure, not a figure. */
export function summarize (workload: WorkloadResult): void {
  const reference = workload.rows.find(row => row.contender === workload.reference)
  for (const row of workload.rows) {
    const failed = row.runs.find(run => run.error !== undefined)
    if (failed !== undefined) row.error = failed.error
    row.median = {}
    row.ratio = {}
    for (const metric of workload.metrics) {
      const values = row.runs.flatMap(run => run.figures?.[metric.key] ?? [])
      row.median[metric.key] = median(values)
      if (metric.better === 'none' || reference === undefined) continue
      const ratios: number[] = []
      for (const run of row.runs) {
        const base = reference.runs.find(r => r.rep === run.rep)?.figures?.[metric.key]
        const value = run.figures?.[metric.key]
        if (base !== undefined && value !== undefined && base !== 0) ratios.push(value / base)
      }
      row.ratio[metric.key] = median(ratios)
    }
  }
}

export function formatValue (value: number, unit: Metric['unit']): string {
  if (!Number.isFinite(value)) return 'n/a'
  switch (unit) {
    case 'rate':
      return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M/s` : value >= 1e4 ? `${(value / 1e3).toFixed(1)}k/s` : `${value.toFixed(0)}/s`
    case 'us':
      return `${value.toFixed(value < 10 ? 2 : 1)} µs`
    case 'ms':
      return `${value.toFixed(value < 10 ? 2 : 1)} ms`
    case 'bytes':
      return Math.abs(value) >= 1024 * 1024 ? `${(value / 1024 / 1024).toFixed(1)} MiB` : `${(value / 1024).toFixed(1)} KiB`
    case 'count':
      return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(1)
  }
}

function cell (row: Row, metric: Metric): string {
  const value = formatValue(row.median[metric.key] ?? NaN, metric.unit)
  const ratio = row.ratio[metric.key]
  return ratio === undefined || !Number.isFinite(ratio) ? value : `**${ratio.toFixed(2)}×** ${value}`
}

function shortError (error: string): string {
  return error.split('\n')[0]?.replace(/\|/g, '\\|').slice(0, 160) ?? error
}

function workloadTable (workload: WorkloadResult): string {
  const lines = [
    `| contender | ${workload.metrics.map(m => m.label + (m.better === 'higher' ? ' ↑' : m.better === 'lower' ? ' ↓' : '')).join(' | ')} |`,
    `| --- | ${workload.metrics.map(() => '---:').join(' | ')} |`
  ]
  for (const row of workload.rows) {
    const cells = row.error !== undefined
      ? [`**error**: ${shortError(row.error)}`, ...workload.metrics.slice(1).map(() => '')]
      : workload.metrics.map(metric => cell(row, metric))
    lines.push(`| ${row.label} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

interface SummaryColumn {
  workload: string
  metric: string
  /** what the column shows; the workload's short name goes before it */
  what: string
  ratio: boolean
}

const SUMMARY: SummaryColumn[] = [
  { workload: 'burst', metric: 'eventsPerSec', what: 'events/s ↑', ratio: true },
  { workload: 'burst', metric: 'cpuPerEvent', what: 'CPU/event ↓', ratio: true },
  { workload: 'tokens', metric: 'eventsPerSec', what: 'events/s ↑', ratio: true },
  { workload: 'tokens', metric: 'cpuPerEvent', what: 'CPU/event ↓', ratio: true },
  { workload: 'fanout-1k', metric: 'p99', what: 'p99 ↓', ratio: true },
  { workload: 'fanout-5k', metric: 'p99', what: 'p99 ↓', ratio: true },
  { workload: 'fanout-5k', metric: 'cpuPerDelivery', what: 'CPU/delivery ↓', ratio: true },
  { workload: 'fanout-5k', metric: 'heapPerStream', what: 'heap/stream', ratio: false },
  { workload: 'churn', metric: 'cyclesPerSec', what: 'cycles/s ↑', ratio: true },
  { workload: 'churn', metric: 'unfinalized', what: 'left hanging', ratio: false },
  { workload: 'abort', metric: 'cyclesPerSec', what: 'cycles/s ↑', ratio: true },
  { workload: 'abort', metric: 'unfinalized', what: 'left hanging', ratio: false }
]

const HUB_SUMMARY: SummaryColumn[] = [
  { workload: 'hub-5k', metric: 'cpuPerDelivery', what: 'CPU/delivery ↓', ratio: true },
  { workload: 'hub-5k', metric: 'p99', what: 'p99 ↓', ratio: true },
  { workload: 'hub-5k', metric: 'heapPerStream', what: 'heap/subscriber', ratio: false },
  { workload: 'hub-19k', metric: 'cpuPerDelivery', what: 'CPU/delivery ↓', ratio: true },
  { workload: 'hub-19k', metric: 'p99', what: 'p99 ↓', ratio: true },
  { workload: 'hub-19k', metric: 'heapPerStream', what: 'heap/subscriber', ratio: false }
]

/** "fanout, 5,000 streams" -> "fanout 5,000"; "hub, 19,000 subscribers" -> "hub 19,000" */
function shortTitle (title: string): string {
  return title.replace(/^(fanout|hub), (\S+) (streams|subscribers)$/, '$1 $2')
}

/** The largest subscriber count at which a contender delivered every event to every subscriber. */
function largestDelivered (results: Results, contender: string): string {
  let largest: number | undefined
  for (const workload of results.workloads) {
    const row = workload.rows.find(r => r.contender === contender)
    if (workload.scale === undefined || row === undefined || row.runs.length === 0 || row.error !== undefined) continue
    largest = Math.max(largest ?? 0, workload.scale)
  }
  return largest === undefined ? 'none' : largest.toLocaleString('en-US')
}

function summaryTable (results: Results, summary: SummaryColumn[], largest = false): string | undefined {
  const columns = summary.filter(column => results.workloads.some(w => w.id === column.workload))
  if (columns.length === 0) return undefined
  // The contenders of the summarized workloads, in their order.
  const labels = new Map<string, string>()
  for (const workload of results.workloads) {
    if (!columns.some(column => column.workload === workload.id)) continue
    for (const row of workload.rows) labels.set(row.contender, row.label)
  }
  const extra = largest ? ['largest count delivered in full'] : []
  const lines = [
    `| contender | ${[...columns.map(c => `${shortTitle(results.workloads.find(w => w.id === c.workload)?.title ?? c.workload)} ${c.what}`), ...extra].join(' | ')} |`,
    `| --- | ${[...columns, ...extra].map(() => '---:').join(' | ')} |`
  ]
  for (const [contender, label] of labels) {
    const cells = columns.map(column => {
      const workload = results.workloads.find(w => w.id === column.workload)
      const row = workload?.rows.find(r => r.contender === contender)
      const metric = workload?.metrics.find(m => m.key === column.metric)
      if (row === undefined || metric === undefined) return ''
      if (row.error !== undefined) return 'error'
      if (!column.ratio) return formatValue(row.median[column.metric] ?? NaN, metric.unit)
      const ratio = row.ratio[column.metric]
      return ratio === undefined || !Number.isFinite(ratio) ? 'n/a' : `${ratio.toFixed(2)}×`
    })
    if (largest) cells.push(largestDelivered(results, contender))
    lines.push(`| ${label} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

function measuredBy (measured: Measured): string {
  return `\`${measured.command}\` on ${measured.date}, measuring the plugin at commit ${measured.commit}${measured.modified ? ' with uncommitted changes' : ''} ` +
    `(load average at start: ${measured.loadAverageAtStart.map(n => n.toFixed(2)).join(', ')})`
}

/** Which run made the tables: one, or (results merged from several) each with its workloads. */
function generatedBy (results: Results): string[] {
  const { meta } = results
  const runs = new Map<string, { measured: Measured, workloads: string[] }>()
  for (const workload of results.workloads) {
    if (workload.measured === undefined) continue
    const key = workload.measured.command + workload.measured.date
    const run = runs.get(key) ?? { measured: workload.measured, workloads: [] }
    run.workloads.push(workload.id)
    runs.set(key, run)
  }
  if (runs.size <= 1) {
    return [`Generated by \`${meta.command}\` on ${meta.date} in ${Math.round(meta.durationSec)} s, ` +
      `measuring the plugin at commit ${meta.plugin.commit}${meta.plugin.modified ? ' with uncommitted changes' : ''}.`]
  }
  return ['Generated by these runs:', '', ...[...runs.values()].map(run => `- ${run.workloads.join(', ')}: ${measuredBy(run.measured)}`), '']
}

export function markdown (results: Results): string {
  const { meta } = results
  const parts = [
    '# Benchmark results',
    '',
    ...generatedBy(results),
    `Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.memoryGiB} GiB, ${meta.machine.os}, Node ${meta.machine.node} ` +
      `(load average at start: ${meta.machine.loadAverageAtStart.map(n => n.toFixed(2)).join(', ')}).`,
    '',
    'Each contender runs in its own server process on 127.0.0.1; the client is another process. ' +
      'Contenders are interleaved within each repetition. Figures are medians over the repetitions; ' +
      '**N×** is the median of the per-repetition ratios to the reference of the workload (node:http by hand; for hub-redis, Redis PUB/SUB by hand) measured in the same repetition ' +
      '(↑ higher is better, ↓ lower is better). CPU is the server process\'s user + system time.'
  ]
  const summary = summaryTable(results, SUMMARY)
  if (summary !== undefined) parts.push('', '## Summary (ratios to the node:http reference)', '', summary)
  const hubSummary = summaryTable(results, HUB_SUMMARY, true)
  if (hubSummary !== undefined) parts.push('', '## Hub summary (ratios to the node:http reference)', '', hubSummary)
  for (const workload of results.workloads) {
    const reps = Math.max(0, ...workload.rows.map(row => row.runs.length))
    parts.push('', `## ${workload.title}`, '', `${workload.description} ${reps} repetition${reps === 1 ? '' : 's'}.`, '', workloadTable(workload))
  }
  return parts.join('\n') + '\n'
}

function escapeXml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

interface Panel {
  workload: string
  metric: string
  what: string
}

const PANELS: Panel[] = [
  { workload: 'burst', metric: 'eventsPerSec', what: 'events/s (higher is better)' },
  { workload: 'burst', metric: 'cpuPerEvent', what: 'server CPU per event (lower is better)' },
  { workload: 'fanout-1k', metric: 'p99', what: 'p99 delivery latency (lower is better)' },
  { workload: 'fanout-5k', metric: 'p99', what: 'p99 delivery latency (lower is better)' },
  { workload: 'fanout-5k', metric: 'cpuPerDelivery', what: 'server CPU per delivery (lower is better)' },
  { workload: 'hub-19k', metric: 'p99', what: 'p99 delivery latency (lower is better)' },
  { workload: 'hub-19k', metric: 'cpuPerDelivery', what: 'server CPU per delivery (lower is better)' }
]

/** Horizontal bar charts of the burst and fanout figures, written by hand (no dependencies). */
export function svgChart (results: Results): string {
  const width = 880
  const labelWidth = 250
  const valueWidth = 170
  const barArea = width - labelWidth - valueWidth - 20
  const rowHeight = 22
  const parts: string[] = []
  const legend: Array<[string, string]> = [['plugin', 'fastify-typed-sse'], ['peer', 'peers'], ['reference', 'node:http by hand (reference)'], ['hand', 'Fastify + reply.raw by hand']]
  let x = 10
  for (const [kind, text] of legend) {
    parts.push(`<rect x="${x}" y="30" width="12" height="12" class="${kind}"/><text x="${x + 17}" y="40" class="label">${escapeXml(text)}</text>`)
    x += 30 + text.length * 6.5
  }
  let y = 70
  for (const panel of PANELS) {
    const workload = results.workloads.find(w => w.id === panel.workload)
    const metric = workload?.metrics.find(m => m.key === panel.metric)
    if (workload === undefined || metric === undefined) continue
    const title = `${workload.title}: ${panel.what}`
    parts.push(`<text x="10" y="${y}" class="title">${escapeXml(title)}</text>`)
    y += 10
    const values = workload.rows.map(row => row.error === undefined ? row.median[metric.key] ?? NaN : NaN)
    const max = Math.max(...values.filter(Number.isFinite), 0)
    workload.rows.forEach((row, index) => {
      const value = values[index] as number
      const top = y + index * rowHeight
      const kind = row.contender === workload.reference ? 'reference' : row.contender === 'fastify-raw' ? 'hand' : row.contender.startsWith('typed-sse') ? 'plugin' : 'peer'
      parts.push(`<text x="${labelWidth - 8}" y="${top + 15}" class="label" text-anchor="end">${escapeXml(row.label)}</text>`)
      if (!Number.isFinite(value) || max === 0) {
        parts.push(`<text x="${labelWidth + 4}" y="${top + 15}" class="value">${row.error !== undefined ? 'error' : 'n/a'}</text>`)
        return
      }
      const length = Math.max(1, (value / max) * barArea)
      const ratio = row.ratio[metric.key]
      const text = formatValue(value, metric.unit) + (ratio !== undefined && Number.isFinite(ratio) ? `  (${ratio.toFixed(2)}×)` : '')
      parts.push(`<rect x="${labelWidth}" y="${top + 3}" width="${length.toFixed(1)}" height="${rowHeight - 6}" class="${kind}"/>`)
      parts.push(`<text x="${(labelWidth + length + 6).toFixed(1)}" y="${top + 15}" class="value">${escapeXml(text)}</text>`)
    })
    y += workload.rows.length * rowHeight + 36
  }
  const height = y
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    '<style>.title{font-weight:600;font-size:13px}.label,.value{fill:#222}.reference{fill:#7a7a7a}.hand{fill:#b8b8b8}.plugin{fill:#2f6fbf}.peer{fill:#e0a040}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" class="title">fastify-typed-sse benchmark (${escapeXml(results.meta.machine.cpu)}, ${results.meta.machine.cores} cores, Node ${escapeXml(results.meta.machine.node)}); ratios to the node:http reference</text>`,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
