// Latencies as a log-scale histogram: 0.5% resolution from 1 µs to minutes, a few
// thousand counters, so that several client processes can each count millions of
// deliveries and the runner merges their counts into one set of percentiles.

/** Buckets per factor e of latency: bucket i holds latencies around e^(i / SCALE) µs (0.5% apart). */
const SCALE = 200
/** ln(1e9 µs) * SCALE: about 17 minutes. */
const BUCKETS = Math.ceil(Math.log(1e9) * SCALE) + 1

export class LatencyHistogram {
  readonly counts = new Uint32Array(BUCKETS)
  total = 0
  maxMs = 0

  /** Counts one latency in milliseconds (below 1 µs counts as 1 µs, e.g. clocks a hair apart). */
  add (ms: number): void {
    const micros = ms * 1000
    const bucket = micros <= 1 ? 0 : Math.min(BUCKETS - 1, Math.round(Math.log(micros) * SCALE))
    this.counts[bucket] = (this.counts[bucket] as number) + 1
    this.total++
    if (ms > this.maxMs) this.maxMs = ms
  }

  /** The non-empty buckets as [bucket, count] pairs, small enough for an IPC message. */
  toJSON (): SerializedHistogram {
    const buckets: Array<[number, number]> = []
    this.counts.forEach((count, bucket) => { if (count > 0) buckets.push([bucket, count]) })
    return { buckets, maxMs: this.maxMs }
  }

  merge (other: SerializedHistogram): void {
    for (const [bucket, count] of other.buckets) {
      this.counts[bucket] = (this.counts[bucket] as number) + count
      this.total += count
    }
    if (other.maxMs > this.maxMs) this.maxMs = other.maxMs
  }

  /** The latency in ms below which a share `p` of the deliveries fall (NaN without any). */
  percentile (p: number): number {
    if (this.total === 0) return NaN
    const rank = Math.max(1, Math.ceil(p * this.total))
    let seen = 0
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.counts[bucket] as number
      if (seen >= rank) return Math.min(this.maxMs, Math.exp(bucket / SCALE) / 1000)
    }
    return this.maxMs
  }
}

export interface SerializedHistogram {
  buckets: Array<[number, number]>
  maxMs: number
}

export interface LatencySummary {
  p50: number
  p99: number
  max: number
}

/** One set of percentiles from the histograms of several clients. */
export function summarizeLatency (histograms: SerializedHistogram[]): LatencySummary & { count: number } {
  const merged = new LatencyHistogram()
  for (const histogram of histograms) merged.merge(histogram)
  return { p50: merged.percentile(0.5), p99: merged.percentile(0.99), max: merged.maxMs, count: merged.total }
}
