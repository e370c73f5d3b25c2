// The demo app: one web page and a route for each thing people use SSE for.
// `buildApp()` returns the app without listening, so the tests drive the very
// same routes; example/server.ts listens and prints the URL.

import cors from '@fastify/cors'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type RawServerBase } from 'fastify'
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { appendFile } from 'node:fs/promises'
import type { Http2Server, Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fastifyTypedSse from '../index.js'
import type { HubEngine } from '../lib/hub/index.js'
import { chatRoom } from './chat-room.js'
import { clientScript } from './client-script.js'
import { docs, type DocsOptions } from './docs.js'
import { followLines } from './log-tail.js'
import { generateTokens } from './model.js'
import { pause } from './pause.js'

export interface DemoOptions extends DocsOptions {
  /** Serve HTTP/2 without TLS (h2c), as `Fastify({ http2: true })` does. */
  http2?: boolean
  /** Fastify's logger: `false` (default), `true`, or `{ level }`. */
  logger?: boolean | { level: string }
  /** The file GET /log follows. Default: a new file in a temporary directory, removed on close. */
  logFile?: string
  /** Append a made-up access-log line to the log file this often (ms); `0` (default) never. */
  logAppendIntervalMs?: number
  /** Pause between the clock's `time` events. Default 1000 ms. */
  clockIntervalMs?: number
  /** Pause between `tick` events. Default 800 ms. */
  tickerIntervalMs?: number
  /** Pause between the reconnect proof's `count` events. Default 1000 ms. */
  counterIntervalMs?: number
  /** Mean pause between chat tokens. Default 45 ms. */
  tokenDelayMs?: number
  /** How long clients wait before they reconnect (the `retry:` field). Default 1000 ms. */
  retryMs?: number
  /** The plugin's heartbeat. Default 15000 ms. */
  heartbeatInterval?: number
  /** Origins allowed to read the streams from another site, with credentials (cookies). Default none. */
  corsOrigins?: string[]
  /** The chat room's hub engine (e.g. a Redis engine). Default: the memory engine. */
  hubEngine?: HubEngine
  /** Events the memory engine keeps per chat room. Default 20, so that the `reset` is easy to show. */
  roomHistory?: number
}

export type Http2DemoApp = FastifyInstance<Http2Server, Http2ServerRequest, Http2ServerResponse>

// The events of every route. Each is checked before a byte of it is written.
const Hello = Type.Object({ message: Type.String(), intervalMs: Type.Integer({ minimum: 1 }) })
const Time = Type.Object({ iso: Type.String(), epochMs: Type.Integer() })
const Tick = Type.Object({ seq: Type.Integer({ minimum: 1 }), price: Type.Number() })
const Alarm = Type.Object({
  severity: Type.Union([Type.Literal('low'), Type.Literal('high')]),
  seq: Type.Integer({ minimum: 1 }),
  price: Type.Number(),
  message: Type.String()
})
const Delta = Type.Object({ delta: Type.String() })
const LogText = Type.String() // text data: one `data:` line, just what a log tail wants
const Count = Type.Object({
  n: Type.Integer({ minimum: 1 }),
  /** The Last-Event-ID this connection resumed after, as the server read it. */
  resumedAfter: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])
})

// Request bodies and query strings.
const ChatRequest = Type.Object({ prompt: Type.String({ minLength: 1, maxLength: 2000 }) }, { additionalProperties: false })
const AppendRequest = Type.Object({ line: Type.String({ minLength: 1, maxLength: 500, pattern: '^[^\\r\\n]*$' }) }, { additionalProperties: false })
const CounterQuery = Type.Object({ until: Type.Optional(Type.Integer({ minimum: 1 })) })

const PAGE = readFileSync(join(__dirname, 'page.html'), 'utf8')

/** Builds the demo app; call `listen()` on it. */
export async function buildApp (options: DemoOptions & { http2: true }): Promise<Http2DemoApp>
export async function buildApp (options?: DemoOptions & { http2?: false }): Promise<FastifyInstance>
export async function buildApp (options: DemoOptions = {}): Promise<Http2DemoApp | FastifyInstance> {
  const logger = options.logger ?? false
  if (options.http2 === true) {
    const app = Fastify({ http2: true, logger })
    await app.register(demo, options)
    return app
  }
  const app = Fastify({ logger })
  await app.register(demo, options)
  return app
}

/** Every route of the demo, for an HTTP/1.1 or an HTTP/2 server alike. */
const demo: FastifyPluginAsync<DemoOptions, RawServerBase> = async (instance, options) => {
  const clockIntervalMs = options.clockIntervalMs ?? 1000
  const tickerIntervalMs = options.tickerIntervalMs ?? 800
  const counterIntervalMs = options.counterIntervalMs ?? 1000
  const tokenDelayMs = options.tokenDelayMs ?? 45
  const logFile = options.logFile ?? temporaryLogFile(instance)
  writeFileSync(logFile, '', { flag: 'a' }) // the tail needs the file to exist

  await instance.register(fastifyTypedSse, {
    heartbeatInterval: options.heartbeatInterval ?? 15_000,
    retry: options.retryMs ?? 1000
  })
  // `credentials: true` lets a page on an allowed origin use `new EventSource(url, { withCredentials: true })`.
  await instance.register(cors, { origin: options.corsOrigins ?? [], credentials: true })
  // The API document at /docs/json and its UI at /docs: registered before the routes it describes.
  await instance.register(docs, options)

  const app = instance.withTypeProvider<TypeBoxTypeProvider>()
  const drops = new StreamDrops()
  const chat = { running: 0, completed: 0, stopped: 0 }
  const appendLine = serialAppender(logFile)

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE))
  // The page reads the chat with the typed client, served as one ES module.
  const client = await clientScript()
  app.get('/client.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(client))

  // The clock: `hello` first, then the time, until the client leaves.
  app.get('/events', { schema: { sse: { hello: Hello, time: Time } } }, async (_request, reply) =>
    reply.sseStream(({ signal }) => drops.droppable(reply.raw, signal, async function * (stop) {
      yield { event: 'hello', data: { message: 'Hello from the server clock', intervalMs: clockIntervalMs } }
      do {
        const now = new Date()
        yield { event: 'time', data: { iso: now.toISOString(), epochMs: now.getTime() } }
      } while (await pause(clockIntervalMs, stop))
    })))

  // Named events: a `tick` per price, and an `alarm` when the price leaves its band.
  app.get('/ticker', { schema: { sse: { tick: Tick, alarm: Alarm } } }, async (_request, reply) =>
    reply.sseStream(({ signal, lastEventId }) => drops.droppable(reply.raw, signal, async function * (stop) {
      let seq = sequenceNumber(lastEventId) ?? 0
      while (await pause(seq === 0 ? 0 : tickerIntervalMs, stop)) {
        seq++
        const price = priceAt(seq)
        yield { event: 'tick', id: seq, data: { seq, price } }
        const zone = zoneAt(seq)
        if (zone !== zoneAt(seq - 1) && zone !== 'normal') {
          const message = zone === 'high' ? 'The price rose above its band' : 'The price fell below its band'
          yield { event: 'alarm', data: { severity: zone, seq, price, message } }
        }
      }
    })))

  // AI chat: POST a prompt, get the reply token by token, then `data: [DONE]`.
  app.post('/chat', { schema: { body: ChatRequest, sse: { message: Delta } } }, async (request, reply) => {
    const { prompt } = request.body
    return reply.sseStream(async function * ({ signal }) {
      chat.running++
      let completed = false
      try {
        for await (const delta of generateTokens(prompt, { tokenDelayMs, signal })) {
          yield { data: { delta } }
        }
        completed = !signal.aborted
      } finally {
        // Runs when the reply is complete, and also when the client aborts (the Stop button).
        chat.running--
        if (completed) chat.completed++
        else chat.stopped++
      }
    }, { done: '[DONE]' })
  })

  // Log tail: each line is an event whose id is its line number; a client resumes after it.
  app.get('/log', { schema: { sse: { line: LogText } } }, async (_request, reply) =>
    reply.sseStream(({ signal, lastEventId }) => drops.droppable(reply.raw, signal, async function * (stop) {
      const lines = followLines(logFile, { after: sequenceNumber(lastEventId), backlog: 10, signal: stop })
      for await (const { lineNo, text } of lines) yield { event: 'line', id: lineNo, data: text }
    })))

  app.post('/log', { schema: { body: AppendRequest } }, async (request, reply) => {
    await appendLine(request.body.line)
    return reply.code(204).send()
  })

  // Reconnect proof: numbered events; a client that comes back gets the next number.
  app.get('/counter', { schema: { querystring: CounterQuery, sse: { count: Count } } }, async (request, reply) => {
    const { until } = request.query
    const resumedAfter = sequenceNumber(request.headers['last-event-id'])
    // 204 is how a server tells EventSource to stop reconnecting: this client has seen every event.
    if (until !== undefined && resumedAfter !== undefined && resumedAfter >= until) return reply.code(204).send()
    return reply.sseStream(({ signal }) => drops.droppable(reply.raw, signal, async function * (stop) {
      const first = (resumedAfter ?? 0) + 1
      const last = until ?? Infinity
      let n = first - 1
      while (n < last && await pause(n + 1 === first ? 0 : counterIntervalMs, stop)) {
        n++
        yield { event: 'count', id: n, data: { n, resumedAfter: resumedAfter ?? null } }
      }
    }))
  })

  // The chat room: one hub topic per room (example/chat-room.ts).
  await instance.register(chatRoom, {
    engine: options.hubEngine,
    history: options.roomHistory ?? 20,
    droppable: (response, signal, body) => drops.droppable(response, signal, body)
  })

  // Ends every open stream except chats: the browsers reconnect with Last-Event-ID.
  app.post('/drop', async () => ({ dropped: drops.dropAll() }))

  app.get('/stats', async () => ({ chat, openStreams: drops.size }))

  const intervalMs = options.logAppendIntervalMs ?? 0
  if (intervalMs > 0) {
    let request = 0
    const timer = setInterval(() => {
      appendLine(accessLogLine(++request)).catch((err: unknown) => instance.log.error({ err }, 'Could not append to the demo log'))
    }, intervalMs)
    timer.unref()
    instance.addHook('onClose', async () => clearInterval(timer))
  }
}

/**
 * Lets POST /drop cut the open streams (the way a deploy or a crashed proxy would),
 * so that the page can show the browser reconnecting. A cut is not a finish: the
 * response ends without the end marker, so clients come back with Last-Event-ID.
 */
class StreamDrops {
  private readonly open = new Map<AbortController, Droppable>()

  get size (): number {
    return this.open.size
  }

  /**
   * Runs `body` with a signal that aborts when the client leaves or when the streams are
   * dropped. Dropped, it waits for the stream's teardown instead of finishing (which would
   * write the end marker) while dropAll() ends the response.
   */
  async * droppable<Item> (response: Droppable, signal: AbortSignal, body: (stop: AbortSignal) => AsyncGenerator<Item>): AsyncGenerator<Item> {
    const drop = new AbortController()
    this.open.set(drop, response)
    try {
      yield * body(AbortSignal.any([signal, drop.signal]))
      if (drop.signal.aborted && !signal.aborted) await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
    } finally {
      this.open.delete(drop)
    }
  }

  dropAll (): number {
    const count = this.open.size
    for (const [drop, response] of this.open) {
      drop.abort()
      response.end()
    }
    this.open.clear()
    return count
  }
}

/** What a drop ends: the stream's response. */
export interface Droppable {
  end (): unknown
}

/** An event id made of digits (what these routes send), as a number; otherwise undefined. */
function sequenceNumber (id: string | string[] | undefined): number | undefined {
  return typeof id === 'string' && /^\d{1,15}$/.test(id) ? Number(id) : undefined
}

/** A made-up price: a slow wave with a little deterministic noise. */
function priceAt (seq: number): number {
  const noise = ((seq * 7919) % 13) / 10 - 0.6
  return Math.round((100 + 6 * Math.sin(seq / 2.5) + noise) * 100) / 100
}

/** Where the wave (without noise, so that it never flickers) is: above, below or inside its band. */
function zoneAt (seq: number): 'low' | 'normal' | 'high' {
  const wave = 6 * Math.sin(seq / 2.5)
  return wave > 4 ? 'high' : wave < -4 ? 'low' : 'normal'
}

/** Appends lines one after another, so that concurrent appends never interleave. */
function serialAppender (file: string): (line: string) => Promise<void> {
  let last: Promise<void> = Promise.resolve()
  return (line) => {
    const next = last.then(() => appendFile(file, line + '\n'))
    last = next.catch(() => {})
    return next
  }
}

const PATHS = ['/api/orders', '/api/orders/42', '/api/users/me', '/health', '/api/cart', '/static/app.js']
const STATUSES = [200, 200, 201, 200, 304, 200, 404, 200, 500]

function accessLogLine (request: number): string {
  const method = request % 4 === 0 ? 'POST' : 'GET'
  const path = PATHS[request % PATHS.length] as string
  const status = STATUSES[request % STATUSES.length] as number
  return `${new Date().toISOString()} ${method} ${path} ${status} ${5 + (request * 37) % 120}ms`
}

function temporaryLogFile (instance: FastifyInstance<RawServerBase>): string {
  const directory = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-demo-'))
  instance.addHook('onClose', async () => rmSync(directory, { recursive: true, force: true }))
  return join(directory, 'app.log')
}
