// The load client: a separate process that opens raw TCP connections, speaks just
// enough HTTP/1.1 (status line, headers, chunked bodies) and counts SSE events
// cheaply: it looks at the first bytes of each line and only keeps where the data
// of the last events is. Every workload checks that every event arrived.

import { connect, type Socket } from 'node:net'
import { LatencyHistogram } from './latency.js'
import type {
  BurstArgs, BurstResult, CyclesArgs, CyclesResult, FanoutCollectArgs, FanoutDeliveredArgs, FanoutOpenArgs, FanoutResult,
  ReadyWhen, ReplayLeaveArgs, ReplayResult, ReplayResumeArgs, Reply, Request, SequenceCheck, TopicsAwaitArgs, TopicsOpenArgs,
  TopicsResult
} from './protocol.js'

const LF = 10
const CR = 13

function now (): number {
  return performance.timeOrigin + performance.now()
}

/**
 * A spec parser reduced to what the checks need: events end at a blank line after a
 * data line; an `id:` line with no data before the blank line is a position item; the
 * end marker (`event: end`, what a finished source ends with) is not an event of the
 * workload and is skipped.
 */
class EventCounter {
  events = 0
  positions = 0
  /** Keep the last `id:` value in `lastId` (a string per event: only for the few streams that resume). */
  trackIds = false
  lastId: string | undefined
  /** Where the data of the last two events is, as [buffer, start, end]. */
  lastBuf: Buffer | undefined
  lastStart = 0
  lastEnd = 0
  prevBuf: Buffer | undefined
  prevStart = 0
  prevEnd = 0
  onEvent: ((buf: Buffer, start: number, end: number) => void) | undefined
  private hasData = false
  private hasId = false
  private isEnd = false
  private dataBuf: Buffer | undefined
  private dataStart = 0
  private dataEnd = 0
  private carry: Buffer | undefined

  feed (buf: Buffer, start: number, end: number): void {
    let pos = start
    if (this.carry !== undefined) {
      const newline = buf.indexOf(LF, pos)
      if (newline === -1 || newline >= end) {
        this.carry = Buffer.concat([this.carry, buf.subarray(pos, end)])
        return
      }
      const line = Buffer.concat([this.carry, buf.subarray(pos, newline)])
      this.carry = undefined
      this.line(line, 0, line.length)
      pos = newline + 1
    }
    while (pos < end) {
      const newline = buf.indexOf(LF, pos)
      if (newline === -1 || newline >= end) {
        this.carry = Buffer.from(buf.subarray(pos, end))
        return
      }
      this.line(buf, pos, newline)
      pos = newline + 1
    }
  }

  private line (buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--
    if (end === start) {
      if (!this.hasData) {
        if (this.hasId) {
          this.hasId = false
          this.positions++
        }
        return
      }
      this.hasData = false
      this.hasId = false
      if (this.isEnd) {
        this.isEnd = false
        return
      }
      this.events++
      this.prevBuf = this.lastBuf
      this.prevStart = this.lastStart
      this.prevEnd = this.lastEnd
      this.lastBuf = this.dataBuf
      this.lastStart = this.dataStart
      this.lastEnd = this.dataEnd
      this.onEvent?.(this.dataBuf as Buffer, this.dataStart, this.dataEnd)
      return
    }
    // "data:" (one data line per event in every workload)
    if (buf[start] === 0x64 && end - start >= 5 && buf[start + 1] === 0x61 && buf[start + 2] === 0x74 && buf[start + 3] === 0x61 && buf[start + 4] === 0x3a) {
      this.hasData = true
      this.dataBuf = buf
      this.dataStart = buf[start + 5] === 0x20 ? start + 6 : start + 5
      this.dataEnd = end
    } else if (buf[start] === 0x69 && end - start >= 3 && buf[start + 1] === 0x64 && buf[start + 2] === 0x3a) {
      // "id:"
      this.hasId = true
      if (this.trackIds) this.lastId = buf.toString('utf8', buf[start + 3] === 0x20 ? start + 4 : start + 3, end)
    } else if (end - start === 10 && buf.toString('latin1', start, end) === 'event: end') {
      this.isEnd = true
    }
  }

  lastData (): string | undefined {
    return this.lastBuf?.toString('utf8', this.lastStart, this.lastEnd)
  }

  previousData (): string | undefined {
    return this.prevBuf?.toString('utf8', this.prevStart, this.prevEnd)
  }
}

const enum Body { Headers, ChunkSize, ChunkExtension, ChunkData, ChunkEnd, Identity, Done }

/** One GET request for an event stream over its own TCP connection. */
class StreamConnection {
  readonly counter = new EventCounter()
  readonly socket: Socket
  bytes = 0
  status = 0
  /** Resolves when the response ends; rejects when the connection fails first. */
  readonly finished: Promise<void>
  readonly connected: Promise<void>
  private state = Body.Headers
  private headerText = ''
  private chunkRemaining = 0
  private chunkEndLeft = 0
  private settle!: (err?: Error) => void

  constructor (port: number, path: string, headers = '') {
    this.finished = new Promise((resolve, reject) => {
      this.settle = err => {
        this.settle = () => {}
        if (err === undefined) resolve()
        else reject(err)
      }
    })
    this.finished.catch(() => {})
    this.socket = connect({ port, host: '127.0.0.1', noDelay: true })
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve)
      this.socket.once('error', reject)
    })
    this.connected.catch(() => {})
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n${headers}\r\n`)
    this.socket.on('data', (data: Buffer) => this.onData(data))
    this.socket.on('end', () => {
      if (this.state === Body.Identity) this.done()
      else this.settle(new Error(`the server closed the connection mid-response (${this.counter.events} events)`))
    })
    this.socket.on('error', err => this.settle(err))
    this.socket.on('close', () => this.settle(new Error(`the connection closed mid-response (${this.counter.events} events)`)))
  }

  /** Whether the stream counts as subscribed (see ReadyWhen). */
  isReady (when: ReadyWhen): boolean {
    return this.status === 200 && (when === 'headers' || this.counter.positions > 0 || this.counter.events > 0)
  }

  /** Leaves: no FIN handshake wait, unread data is dropped. */
  destroy (): void {
    this.settle()
    this.socket.destroy()
  }

  private done (): void {
    this.state = Body.Done
    this.settle()
    this.socket.end()
  }

  private onData (data: Buffer): void {
    this.bytes += data.length
    let pos = 0
    if (this.state === Body.Headers) {
      this.headerText += data.toString('latin1')
      const end = this.headerText.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = this.headerText.slice(0, end)
      this.status = Number(head.slice(9, 12))
      if (this.status !== 200) {
        this.settle(new Error(`status ${this.status}`))
        this.socket.destroy()
        return
      }
      this.state = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head) ? Body.ChunkSize : Body.Identity
      pos = data.length - (this.headerText.length - end - 4)
      this.headerText = ''
    }
    this.body(data, pos)
  }

  private body (data: Buffer, pos: number): void {
    const length = data.length
    while (pos < length) {
      switch (this.state) {
        case Body.Identity:
          this.counter.feed(data, pos, length)
          return
        case Body.ChunkSize: {
          const c = data[pos++] as number
          if (c === LF) {
            if (this.chunkRemaining === 0) {
              this.done()
              return
            }
            this.state = Body.ChunkData
          } else if (c === 0x3b) {
            this.state = Body.ChunkExtension
          } else if (c !== CR) {
            this.chunkRemaining = this.chunkRemaining * 16 + hexValue(c)
          }
          break
        }
        case Body.ChunkExtension:
          if (data[pos++] === LF) this.state = this.chunkRemaining === 0 ? Body.Done : Body.ChunkData
          if (this.state === Body.Done) {
            this.done()
            return
          }
          break
        case Body.ChunkData: {
          const end = Math.min(length, pos + this.chunkRemaining)
          this.counter.feed(data, pos, end)
          this.chunkRemaining -= end - pos
          pos = end
          if (this.chunkRemaining === 0) {
            this.state = Body.ChunkEnd
            this.chunkEndLeft = 2
          }
          break
        }
        case Body.ChunkEnd: {
          const skip = Math.min(this.chunkEndLeft, length - pos)
          pos += skip
          this.chunkEndLeft -= skip
          if (this.chunkEndLeft === 0) this.state = Body.ChunkSize
          break
        }
        default:
          return
      }
    }
  }
}

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  throw new Error(`bad chunk size byte ${c}`)
}

function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function burst (args: BurstArgs): Promise<BurstResult> {
  const start = performance.now()
  const connection = new StreamConnection(args.port, `${args.path}?n=${args.events}`)
  try {
    await withTimeout(connection.finished, args.timeoutMs, args.kind)
  } finally {
    connection.socket.destroy()
  }
  const elapsedMs = performance.now() - start
  const { counter } = connection
  if (args.kind === 'burst') {
    if (counter.events !== args.events) throw new Error(`lost events: received ${counter.events} of ${args.events}`)
    const last = JSON.parse(counter.lastData() ?? 'null') as { value?: number } | null
    if (last?.value !== args.events - 1) throw new Error(`the last event is ${counter.lastData()}, not value ${args.events - 1}`)
  } else {
    if (counter.events !== args.events + 1) throw new Error(`lost events: received ${counter.events} of ${args.events} + [DONE]`)
    if (counter.lastData() !== '[DONE]') throw new Error(`the last event is ${counter.lastData()}, not [DONE]`)
    const last = JSON.parse(counter.previousData() ?? 'null') as { delta?: string } | null
    if (last?.delta !== ' w' + String(args.events - 1)) throw new Error(`the last token is ${counter.previousData()}`)
  }
  return { events: counter.events, bytes: connection.bytes, elapsedMs }
}

/** Polls `check` until it holds or `timeoutMs` passed; resolves with whether it held. */
async function until (check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return true
}

/** Opens `count` connections, `concurrency` at a time; `open(index)` makes one. */
async function openAll (count: number, concurrency: number, open: (index: number) => StreamConnection): Promise<void> {
  let next = 0
  const opener = async (): Promise<void> => {
    while (next < count) {
      const connection = open(next++)
      await connection.connected
    }
  }
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, opener))
}

interface Fanout {
  connections: StreamConnection[]
  ready: ReadyWhen
  expected: number[]
  failures: string[]
  latency: LatencyHistogram
  deliveries: number
}

let fanout: Fanout | undefined

async function fanoutOpen (args: FanoutOpenArgs): Promise<null> {
  const state: Fanout = { connections: [], ready: args.ready, expected: [], failures: [], latency: new LatencyHistogram(), deliveries: 0 }
  fanout = state
  await openAll(args.streams, args.connectConcurrency, index => {
    const connection = new StreamConnection(args.port, args.path)
    state.connections.push(connection)
    state.expected[index] = 0
    connection.counter.onEvent = (buf, start, end) => {
      const received = now()
      const tick = JSON.parse(buf.toString('latin1', start, end)) as { value: number, ts: number }
      if (tick.value !== state.expected[index]) state.failures.push(`stream ${index}: got value ${tick.value}, expected ${state.expected[index]}`)
      state.expected[index] = tick.value + 1
      state.deliveries++
      state.latency.add(received - tick.ts)
    }
    return connection
  })
  return null
}

function fanoutState (): Fanout {
  if (fanout === undefined) throw new Error('no fanout open')
  return fanout
}

/** How many of the open streams are subscribed. */
async function fanoutReady (): Promise<number> {
  const state = fanoutState()
  return state.connections.filter(c => c.isReady(state.ready)).length
}

/** Waits until every stream has `events` events (or the time is up: collect then says what is missing). */
async function fanoutDelivered (args: FanoutDeliveredArgs): Promise<boolean> {
  const { connections } = fanoutState()
  return await until(() => connections.every(c => c.counter.events >= args.events), args.timeoutMs)
}

async function fanoutCollect (args: FanoutCollectArgs): Promise<FanoutResult> {
  const state = fanoutState()
  fanout = undefined
  try {
    await withTimeout(Promise.all(state.connections.map(c => c.finished)), args.timeoutMs, 'fanout')
  } finally {
    for (const connection of state.connections) connection.socket.destroy()
  }
  const complete = state.connections.filter(c => c.counter.events === args.events).length
  const counts = `${complete} of ${state.connections.length} streams got all ${args.events} events`
  if (state.failures.length > 0) throw new Error(`lost events: ${state.failures.slice(0, 3).join('; ')} (${state.failures.length} in all; ${counts})`)
  const short = state.connections.find(c => c.counter.events !== args.events)
  if (short !== undefined) throw new Error(`lost events: a stream received ${short.counter.events} events, not ${args.events} (${counts})`)
  return { streams: state.connections.length, deliveries: state.deliveries, latency: state.latency.toJSON() }
}

/** Checks one stream's { seq } events: each seq once, in order, none missing. */
class SequenceChecker implements SequenceCheck {
  gaps = 0
  undelivered = 0
  duplicates = 0
  resets = 0
  /** the next seq due */
  expected = 0
  events = 0
  /** where the first few faults were, for the error report */
  readonly faults: string[] = []

  /** Checks one event's data; returns its publish timestamp, or undefined for a reset. */
  event (data: string): number | undefined {
    const payload = JSON.parse(data) as { seq?: number, ts?: number, reason?: string }
    if (payload.seq === undefined) {
      // The hub's reset { reason }: it says it could not prove continuity.
      this.resets++
      return undefined
    }
    this.events++
    if (payload.seq < this.expected) {
      this.duplicates++
      if (this.faults.length < 3) this.faults.push(`seq ${payload.seq} again after ${this.expected - 1}`)
    } else {
      if (payload.seq > this.expected && this.faults.length < 3) this.faults.push(`seq ${this.expected} to ${payload.seq - 1} missing`)
      this.gaps += payload.seq - this.expected
      this.expected = payload.seq + 1
    }
    return payload.ts
  }

  /** Counts the events that never came, of `published`. */
  finish (published: number): void {
    if (published > this.expected) {
      this.undelivered += published - this.expected
      if (this.faults.length < 3) this.faults.push(`seq ${this.expected} to ${published - 1} never came`)
    }
    this.expected = Math.max(this.expected, published)
  }
}

interface TopicStream {
  connection: StreamConnection
  topic: number
  check: SequenceChecker
}

let topicStreams: { streams: TopicStream[], ready: ReadyWhen, latency: LatencyHistogram, lastEventAt: number } | undefined

/** `perTopic` streams of every topic on every port (hub-redis). */
async function topicsOpen (args: TopicsOpenArgs): Promise<null> {
  const state = { streams: [] as TopicStream[], ready: args.ready, latency: new LatencyHistogram(), lastEventAt: 0 }
  topicStreams = state
  const perPort = args.topics * args.perTopic
  await openAll(args.ports.length * perPort, args.connectConcurrency, index => {
    const port = args.ports[Math.floor(index / perPort)] as number
    const topic = index % args.topics
    const connection = new StreamConnection(port, `/topics/${topic}`)
    const check = new SequenceChecker()
    connection.counter.onEvent = (buf, start, end) => {
      const received = now()
      state.lastEventAt = received
      const ts = check.event(buf.toString('latin1', start, end))
      if (ts !== undefined) state.latency.add(received - ts)
    }
    state.streams.push({ connection, topic, check })
    return connection
  })
  return null
}

function topicsState (): NonNullable<typeof topicStreams> {
  if (topicStreams === undefined) throw new Error('no topic streams open')
  return topicStreams
}

async function topicsReady (): Promise<number> {
  const state = topicsState()
  return state.streams.filter(s => s.connection.isReady(state.ready)).length
}

/**
 * Waits until every stream is past the last published seq of its topic, or no event came
 * for `quietMs` (what is missing then never comes: at most once), or the time is up.
 */
async function topicsAwait (args: TopicsAwaitArgs): Promise<boolean> {
  const state = topicsState()
  const complete = (): boolean => state.streams.every(s => s.check.expected >= (args.published[s.topic] ?? 0))
  return await until(() => complete() || now() - state.lastEventAt > args.quietMs, args.timeoutMs)
}

async function topicsCollect (args: TopicsAwaitArgs): Promise<TopicsResult> {
  const state = topicsState()
  topicStreams = undefined
  const result: TopicsResult = {
    streams: state.streams.length, deliveries: 0, gaps: 0, undelivered: 0, duplicates: 0, resets: 0, faults: [], latency: state.latency.toJSON()
  }
  for (const { connection, topic, check } of state.streams) {
    connection.destroy()
    if (connection.status !== 200) throw new Error(`a stream of topic ${topic} got status ${connection.status}`)
    check.finish(args.published[topic] ?? 0)
    result.deliveries += check.events
    result.gaps += check.gaps
    result.undelivered += check.undelivered
    result.duplicates += check.duplicates
    result.resets += check.resets
    if (result.faults.length < 5) result.faults.push(...check.faults.map(fault => `topic ${topic}: ${fault}`))
  }
  return result
}

/** Subscribes, waits for the position item, leaves: returns the position (the client's last event id). */
async function replayLeave (args: ReplayLeaveArgs): Promise<string> {
  const connection = new StreamConnection(args.port, args.path)
  connection.counter.trackIds = true
  try {
    const positioned = await until(() => connection.counter.positions > 0, args.timeoutMs)
    const id = connection.counter.lastId
    if (!positioned || id === undefined) throw new Error(`no position item within ${args.timeoutMs} ms`)
    return id
  } finally {
    connection.destroy()
  }
}

/** Resumes from `lastEventId` and times how long until the `events` missed events have arrived. */
async function replayResume (args: ReplayResumeArgs): Promise<ReplayResult> {
  const check = new SequenceChecker()
  const start = performance.now()
  let elapsedMs = NaN
  const connection = new StreamConnection(args.port, args.path, `Last-Event-ID: ${args.lastEventId}\r\n`)
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      connection.counter.onEvent = (buf, begin, end) => {
        check.event(buf.toString('latin1', begin, end))
        if (check.expected >= args.events || check.resets > 0) {
          elapsedMs = performance.now() - start
          connection.counter.onEvent = undefined
          resolve()
        }
      }
      connection.finished.then(() => reject(new Error(`the stream ended after ${check.events} events`)), reject)
    }), args.timeoutMs, `replay of ${args.events} events`)
  } finally {
    connection.destroy()
  }
  check.finish(args.events)
  return { events: check.events, elapsedMs, gaps: check.gaps, undelivered: check.undelivered, duplicates: check.duplicates, resets: check.resets }
}

/** Connect, take the first event, leave (after a stall without reading when `stallMs` > 0). */
async function cycle (args: CyclesArgs): Promise<void> {
  const connection = new StreamConnection(args.port, args.path)
  const { counter } = connection
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      counter.onEvent = () => {
        counter.onEvent = undefined
        resolve()
      }
      connection.finished.then(() => reject(new Error('the stream ended before its first event')), reject)
    }), 10_000, 'first event')
    if (args.stallMs > 0) {
      connection.socket.pause()
      await new Promise(resolve => setTimeout(resolve, args.stallMs))
    }
  } finally {
    connection.destroy()
  }
}

async function cycles (args: CyclesArgs): Promise<CyclesResult> {
  const start = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < args.cycles) {
      next++
      await cycle(args)
    }
  }
  await withTimeout(Promise.all(Array.from({ length: args.concurrency }, worker)), args.timeoutMs, 'cycles')
  return { cycles: args.cycles, elapsedMs: performance.now() - start }
}

const commands: Record<string, (args: any) => Promise<unknown>> = {
  burst,
  'fanout:open': fanoutOpen,
  'fanout:ready': fanoutReady,
  'fanout:delivered': fanoutDelivered,
  'fanout:collect': fanoutCollect,
  'topics:open': topicsOpen,
  'topics:ready': topicsReady,
  'topics:await': topicsAwait,
  'topics:collect': topicsCollect,
  'replay:leave': replayLeave,
  'replay:resume': replayResume,
  cycles,
  exit: async () => {
    setImmediate(() => process.exit(0))
    return null
  }
}

process.on('message', (request: Request) => {
  const command = commands[request.command]
  const run = command === undefined ? Promise.reject(new Error(`unknown command ${request.command}`)) : command(request.args)
  run.then(
    result => process.send?.({ id: request.id, ok: true, result } satisfies Reply),
    (err: Error) => process.send?.({ id: request.id, ok: false, error: err.message } satisfies Reply)
  )
})
// The runner went away: nothing left to do.
process.on('disconnect', () => process.exit(0))
process.send?.({ ready: true, port: 0 })
