// The load client: a separate process that opens raw TCP connections, speaks just
// enough HTTP/1.1 (status line, headers, chunked bodies) and counts SSE events
// cheaply: it looks at the first bytes of each line and only keeps where the data
// of the last events is. Every workload checks that every event arrived.

import { connect, type Socket } from 'node:net'
import type {
  BurstArgs, BurstResult, CyclesArgs, CyclesResult, FanoutCollectArgs, FanoutOpenArgs, FanoutResult, Reply, Request
} from './protocol.js'

const LF = 10
const CR = 13

function now (): number {
  return performance.timeOrigin + performance.now()
}

/** A spec parser reduced to what the checks need: events end at a blank line after a data line. */
class EventCounter {
  events = 0
  /** Where the data of the last two events is, as [buffer, start, end]. */
  lastBuf: Buffer | undefined
  lastStart = 0
  lastEnd = 0
  prevBuf: Buffer | undefined
  prevStart = 0
  prevEnd = 0
  onEvent: ((buf: Buffer, start: number, end: number) => void) | undefined
  private hasData = false
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
      if (!this.hasData) return
      this.hasData = false
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

  constructor (port: number, path: string) {
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
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`)
    this.socket.on('data', (data: Buffer) => this.onData(data))
    this.socket.on('end', () => {
      if (this.state === Body.Identity) this.done()
      else this.settle(new Error(`the server closed the connection mid-response (${this.counter.events} events)`))
    })
    this.socket.on('error', err => this.settle(err))
    this.socket.on('close', () => this.settle(new Error(`the connection closed mid-response (${this.counter.events} events)`)))
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

interface Fanout {
  connections: StreamConnection[]
  expected: number[]
  failures: string[]
  latencies: Float64Array
  deliveries: number
}

let fanout: Fanout | undefined

async function fanoutOpen (args: FanoutOpenArgs): Promise<null> {
  const state: Fanout = { connections: [], expected: [], failures: [], latencies: new Float64Array(args.streams * 128), deliveries: 0 }
  fanout = state
  let next = 0
  const opener = async (): Promise<void> => {
    while (next < args.streams) {
      const index = next++
      const connection = new StreamConnection(args.port, args.path)
      state.connections.push(connection)
      state.expected[index] = 0
      connection.counter.onEvent = (buf, start, end) => {
        const received = now()
        const tick = JSON.parse(buf.toString('latin1', start, end)) as { value: number, ts: number }
        if (tick.value !== state.expected[index]) state.failures.push(`stream ${index}: got value ${tick.value}, expected ${state.expected[index]}`)
        state.expected[index] = tick.value + 1
        if (state.deliveries === state.latencies.length) {
          const grown = new Float64Array(state.latencies.length * 2)
          grown.set(state.latencies)
          state.latencies = grown
        }
        state.latencies[state.deliveries++] = received - tick.ts
      }
      await connection.connected
    }
  }
  await Promise.all(Array.from({ length: args.connectConcurrency }, opener))
  return null
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number
}

async function fanoutCollect (args: FanoutCollectArgs): Promise<FanoutResult> {
  const state = fanout
  if (state === undefined) throw new Error('fanout:collect before fanout:open')
  fanout = undefined
  try {
    await withTimeout(Promise.all(state.connections.map(c => c.finished)), args.timeoutMs, 'fanout')
  } finally {
    for (const connection of state.connections) connection.socket.destroy()
  }
  if (state.failures.length > 0) throw new Error(`lost events: ${state.failures.slice(0, 3).join('; ')} (${state.failures.length} streams)`)
  const short = state.connections.filter(c => c.counter.events !== args.events)
  if (short.length > 0) throw new Error(`lost events: ${short.length} streams received ${short[0]?.counter.events} events, not ${args.events}`)
  const sorted = state.latencies.slice(0, state.deliveries).sort()
  return {
    streams: state.connections.length,
    deliveries: state.deliveries,
    latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN }
  }
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
  'fanout:collect': fanoutCollect,
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
