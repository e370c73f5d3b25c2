// The soak's load, in its own process (driven over IPC by bench/soak/run.ts):
// the clients, the publisher, and the check of every event each client gets.
//
// Clients: plain HTTP through nginx, each on one topic, resuming with
// Last-Event-ID like EventSource. A share of them is cut and reconnects every
// second; a stream that ends or fails reconnects after the server's retry.
//
// Publisher: each topic is published by one instance (its command connection
// keeps the topic's order), in batches of what accumulated since its last batch
// was answered. Every event is numbered per topic, so a client knows what it
// should get next: a number it skipped is a gap once the publish of it was
// acknowledged (one that rejected has an unknown outcome and is excused), an id
// it already had is a duplicate, and after a `reset` it starts counting again.

import http from 'node:http'
import type { Reply, Request } from '../protocol.js'

export interface LoadSettings {
  nginxUrl: string
  instanceUrls: string[]
  clients: number
  topics: number
  /** Events per second over all topics. */
  rate: number
  /** Share of the clients cut and reconnected each second. */
  churn: number
}

export interface LoadSample {
  /** Events received since the last sample. */
  delivered: number
  published: number
  rejected: number
  /** Totals since the start. */
  gaps: number
  duplicates: number
  /** The same number again with a new id: a publish Redis stored twice (ioredis resends on reconnect), not the hub's. */
  republished: number
  /** Numbers that came after a later one (counted once they arrive). */
  late: number
  resets: Array<{ at: number, reason: string }>
  /** Clients with an open stream now. */
  connected: number
  reconnects: number
  refused: number
  latencyP50Ms: number
  latencyP99Ms: number
}

/** A skipped number is only judged this long after it was skipped, so that a late one is not a gap. */
const LATE_GRACE_MS = 30_000
/** Latency histogram: 1 ms buckets up to 60 s. */
const LATENCY_BUCKETS = 60_000

class Publisher {
  /** Per topic, the number its next event gets. */
  readonly next: number[]
  /** Per topic, numbers whose publish has not resolved: 'pending', or 'rejected' (outcome unknown). */
  private readonly unsettled: Array<Map<number, 'pending' | 'rejected'>>
  private readonly buffers: Array<Array<{ topic: string, n: number, t: number }>>
  private readonly busy: boolean[]
  private readonly agents: http.Agent[]
  private cursor = 0
  private budget = 0
  private timer: NodeJS.Timeout | undefined
  published = 0
  rejected = 0

  constructor (private readonly settings: LoadSettings) {
    this.next = new Array<number>(settings.topics).fill(0)
    this.unsettled = Array.from({ length: settings.topics }, () => new Map())
    this.buffers = settings.instanceUrls.map(() => [])
    this.busy = settings.instanceUrls.map(() => false)
    this.agents = settings.instanceUrls.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }))
  }

  start (): void {
    let last = performance.now()
    this.timer = setInterval(() => {
      const now = performance.now()
      this.budget += (now - last) * this.settings.rate / 1000
      last = now
      const count = Math.floor(this.budget)
      this.budget -= count
      const t = Date.now()
      for (let i = 0; i < count; i++) {
        const topic = this.cursor
        this.cursor = (this.cursor + 1) % this.settings.topics
        const n = this.next[topic]!++
        this.unsettled[topic]!.set(n, 'pending')
        this.buffers[topic % this.buffers.length]!.push({ topic: 't' + topic, n, t })
      }
      for (let i = 0; i < this.buffers.length; i++) this.flush(i)
    }, 50)
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** 'acked', 'pending' or 'rejected'. */
  status (topic: number, n: number): 'acked' | 'pending' | 'rejected' {
    return this.unsettled[topic]!.get(n) ?? 'acked'
  }

  get pending (): number {
    let count = 0
    for (const map of this.unsettled) for (const state of map.values()) if (state === 'pending') count++
    return count
  }

  private flush (instance: number): void {
    if (this.busy[instance] === true || this.buffers[instance]!.length === 0) return
    const batch = this.buffers[instance]!
    this.buffers[instance] = []
    this.busy[instance] = true
    const settle = (outcomes: Array<{ id?: string }> | undefined): void => {
      for (let i = 0; i < batch.length; i++) {
        const { topic, n } = batch[i]!
        const map = this.unsettled[Number(topic.slice(1))]!
        if (outcomes?.[i]?.id !== undefined) {
          map.delete(n)
          this.published++
        } else {
          map.set(n, 'rejected')
          this.rejected++
        }
      }
      this.busy[instance] = false
      this.flush(instance)
    }
    const body = JSON.stringify(batch)
    const request = http.request(this.settings.instanceUrls[instance] + '/publish', {
      method: 'POST',
      agent: this.agents[instance],
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: 30_000
    }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { text += chunk })
      response.on('end', () => {
        try {
          settle(response.statusCode === 200 ? JSON.parse(text) : undefined)
        } catch {
          settle(undefined)
        }
      })
      response.on('error', () => settle(undefined))
    })
    let settled = false
    const fail = (): void => {
      if (settled) return
      settled = true
      settle(undefined)
    }
    request.on('timeout', () => request.destroy())
    request.on('error', fail)
    request.end(body)
  }
}

/** Orders two `<ms>-<seq>` ids; both parts stay far below 2^53 here. */
function compareIds (a: string, b: string): number {
  const ad = a.indexOf('-')
  const bd = b.indexOf('-')
  const ms = Number(a.slice(0, ad)) - Number(b.slice(0, bd))
  return ms !== 0 ? ms : Number(a.slice(ad + 1)) - Number(b.slice(bd + 1))
}

class Client {
  lastId: string | undefined
  lastN: number | undefined
  /** Numbers skipped, and when. */
  readonly missing = new Map<number, number>()
  private request: http.ClientRequest | undefined
  connected = false
  private buffer = ''
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly load: Load, readonly topic: number) {}

  connect (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.buffer = ''
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (this.lastId !== undefined) headers['last-event-id'] = this.lastId
    const request = http.get(`${this.load.settings.nginxUrl}/topics/t${this.topic}/events`, { headers, agent: false }, (response) => {
      if (response.statusCode !== 200) {
        this.load.refused++
        response.resume()
        this.retry(request)
        return
      }
      this.connected = true
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => this.read(chunk))
      response.on('end', () => this.retry(request))
      response.on('error', () => this.retry(request))
      response.on('close', () => this.retry(request))
    })
    request.on('error', () => this.retry(request))
    this.request = request
  }

  /** Cut by the load (a client going away and coming back): reconnects at once. */
  cut (): void {
    const request = this.request
    this.request = undefined
    this.connected = false
    request?.destroy()
    this.load.reconnects++
    this.connect()
  }

  close (): void {
    clearTimeout(this.timer)
    const request = this.request
    this.request = undefined
    request?.destroy()
  }

  /** The stream ended or failed on its own: again after the server's retry, as EventSource does. */
  private retry (request: http.ClientRequest): void {
    if (this.request !== request) return // already replaced
    this.request = undefined
    this.connected = false
    request.destroy()
    this.load.reconnects++
    this.timer = setTimeout(() => this.connect(), 200)
  }

  private read (chunk: string): void {
    this.buffer += chunk
    let end: number
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 2)
      this.event(block)
    }
  }

  private event (block: string): void {
    let id: string | undefined
    let name = 'message'
    let data: string | undefined
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) id = line.slice(4)
      else if (line.startsWith('event: ')) name = line.slice(7)
      else if (line.startsWith('data: ')) data = data === undefined ? line.slice(6) : data + '\n' + line.slice(6)
    }
    if (data === undefined) {
      if (id !== undefined) this.lastId = id // a position item
      return
    }
    if (name === 'reset') {
      this.load.resets.push({ at: Date.now(), reason: (JSON.parse(data) as { reason: string }).reason })
      this.missing.clear() // what it skipped is explained by the reset
      this.lastN = undefined
      if (id !== undefined) this.lastId = id
      return
    }
    if (name !== 'tick' || id === undefined) return // stream-error: the stream ends and reconnects
    const { n, t } = JSON.parse(data) as { n: number, t: number }
    this.load.observe(Date.now() - t)
    if (this.lastId !== undefined && compareIds(id, this.lastId) <= 0) {
      this.load.duplicates++
      return
    }
    this.lastId = id
    const last = this.lastN
    if (last === undefined || n === last + 1) {
      this.lastN = n
    } else if (n > last + 1) {
      const now = Date.now()
      for (let k = last + 1; k < n && this.missing.size < 100_000; k++) this.missing.set(k, now)
      this.lastN = n
    } else if (this.missing.delete(n)) {
      this.load.late++
    } else {
      this.load.republished++
    }
  }
}

class Load {
  readonly publisher: Publisher
  readonly clients: Client[]
  resets: Array<{ at: number, reason: string }> = []
  private readonly latency = new Uint32Array(LATENCY_BUCKETS + 1)
  private delivered = 0
  gaps = 0
  duplicates = 0
  republished = 0
  late = 0
  reconnects = 0
  refused = 0
  private churnTimer: NodeJS.Timeout | undefined
  private lastPublished = 0
  private lastRejected = 0

  constructor (readonly settings: LoadSettings) {
    this.publisher = new Publisher(settings)
    this.clients = Array.from({ length: settings.clients }, (_, i) => new Client(this, i % settings.topics))
  }

  observe (latencyMs: number): void {
    this.delivered++
    this.latency[Math.min(LATENCY_BUCKETS, Math.max(0, Math.round(latencyMs)))]!++
  }

  async start (): Promise<void> {
    // Opened a few at a time, so that the start is not one burst of handshakes.
    for (let i = 0; i < this.clients.length; i++) {
      this.clients[i]!.connect()
      if (i % 100 === 99) await new Promise(resolve => setTimeout(resolve, 50))
    }
    const deadline = Date.now() + 60_000
    while (this.clients.some(client => !client.connected)) {
      if (Date.now() > deadline) throw new Error(`only ${this.clients.filter(c => c.connected).length} of ${this.clients.length} clients connected within 60 s`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    this.publisher.start()
    const perSecond = Math.round(this.clients.length * this.settings.churn)
    this.churnTimer = setInterval(() => {
      for (let i = 0; i < perSecond; i++) this.clients[Math.floor(Math.random() * this.clients.length)]!.cut()
    }, 1000)
  }

  /** What happened since the last sample; skipped numbers judged (`final`: all of them, none is still on its way). */
  sample (final: boolean): LoadSample {
    const now = Date.now()
    for (const client of this.clients) {
      for (const [n, since] of client.missing) {
        if (!final && now - since < LATE_GRACE_MS) continue
        const status = this.publisher.status(client.topic, n)
        if (status === 'pending' && !final) continue
        if (status === 'acked') this.gaps++
        client.missing.delete(n)
      }
    }
    const [p50, p99] = this.percentiles([0.5, 0.99])
    this.latency.fill(0)
    const sample: LoadSample = {
      delivered: this.delivered,
      published: this.publisher.published - this.lastPublished,
      rejected: this.publisher.rejected - this.lastRejected,
      gaps: this.gaps,
      duplicates: this.duplicates,
      republished: this.republished,
      late: this.late,
      resets: this.resets,
      connected: this.clients.filter(client => client.connected).length,
      reconnects: this.reconnects,
      refused: this.refused,
      latencyP50Ms: p50!,
      latencyP99Ms: p99!
    }
    this.delivered = 0
    this.resets = []
    this.lastPublished = this.publisher.published
    this.lastRejected = this.publisher.rejected
    return sample
  }

  /** Stops publishing and churn; resolves once every publish settled and every client has the last number of its topic (or after `timeoutMs`). */
  async drain (timeoutMs: number): Promise<{ caughtUp: number, behind: string[] }> {
    // A client counts as behind while it has not reached its topic's last acknowledged number;
    // one that has no number (nothing since its last reset) has nothing to compare.
    this.publisher.stop()
    clearInterval(this.churnTimer)
    const deadline = Date.now() + timeoutMs
    const behind = (): Client[] => this.clients.filter(client => {
      const last = this.lastPublishedN(client.topic)
      return last !== undefined && client.lastN !== undefined && client.lastN < last
    })
    while ((this.publisher.pending > 0 || behind().length > 0) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    const late = behind()
    // What they never got counts as skipped, judged by the final sample.
    for (const client of late) {
      const last = this.lastPublishedN(client.topic) as number
      for (let n = (client.lastN as number) + 1; n <= last; n++) client.missing.set(n, 0)
    }
    return {
      caughtUp: this.clients.length - late.length,
      behind: late.slice(0, 5).map(client => `t${client.topic}: at ${client.lastN}, last acknowledged ${this.lastPublishedN(client.topic)}`)
    }
  }

  close (): void {
    this.publisher.stop()
    clearInterval(this.churnTimer)
    for (const client of this.clients) client.close()
  }

  /** The topic's last number that was acknowledged: what every client of it must end with. */
  private lastPublishedN (topic: number): number | undefined {
    for (let n = this.publisher.next[topic]! - 1; n >= 0; n--) {
      if (this.publisher.status(topic, n) === 'acked') return n
    }
    return undefined
  }

  private percentiles (quantiles: number[]): number[] {
    let total = 0
    for (const count of this.latency) total += count
    return quantiles.map(q => {
      const target = Math.max(1, Math.ceil(total * q))
      let seen = 0
      for (let ms = 0; ms < this.latency.length; ms++) {
        seen += this.latency[ms]!
        if (seen >= target) return ms
      }
      return NaN
    })
  }
}

let load: Load | undefined

process.on('message', (message: Request) => {
  const reply = (result: unknown): void => { process.send?.({ id: message.id, ok: true, result } satisfies Reply) }
  const fail = (err: unknown): void => { process.send?.({ id: message.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply) }
  switch (message.command) {
    case 'start':
      load = new Load(message.args as LoadSettings)
      load.start().then(() => reply(null), fail)
      break
    case 'sample':
      reply(load?.sample(message.args === true))
      break
    case 'drain':
      (load as Load).drain(message.args as number).then(reply, fail)
      break
    case 'exit':
      load?.close()
      reply(null)
      setImmediate(() => process.exit(0))
      break
    default:
      fail(new Error(`unknown command ${message.command}`))
  }
})
process.send?.({ ready: true, port: 0 })
