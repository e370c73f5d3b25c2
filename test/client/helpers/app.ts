// The server the client tests run against: the real plugin on 127.0.0.1, with a
// route for each behaviour, a log of every request it got (method, path,
// Last-Event-ID, time), and counters of the sources that started and finished, so
// that a test can see a reconnect, a retry that did not happen, and a teardown.

import { Type } from '@sinclair/typebox'
import type { Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyTypedSse from '../../../index.js'
import { pause } from '../../../example/pause.js'
import { useFreshConnections } from '../../helpers/fetch.js'

export const Tick = Type.Object({ n: Type.Integer({ minimum: 1 }) })
export const Note = Type.String()
export const Delta = Type.Object({ delta: Type.String() })
export const Reset = Type.Object({ reason: Type.Union([Type.Literal('unknown-id'), Type.Literal('history-lost')]) })

/** The events of GET /ticks: JSON ticks, and a text note (which looks like a number) every third tick. */
export const tickEvents = { tick: Tick, note: Note }

export interface LoggedRequest {
  method: string
  path: string
  lastEventId: string | undefined
  at: number
}

export interface ClientTestServer {
  url: string
  app: FastifyInstance
  /** Every request, in order. */
  requests: LoggedRequest[]
  requestsTo (path: string): LoggedRequest[]
  /** Sources started and finished (their `finally` ran), per route. */
  sources: Record<string, { started: number, finished: number }>
  /** Cuts every open stream, the way a proxy that closes its connections does: each response ends normally, without the end marker. */
  cut (): number
  /** Breaks the connection of every open chat, the way a crashed proxy does (no [DONE], no end). */
  sever (): number
}

/** The numbered id a stream resumes after, from Last-Event-ID. */
function after (lastEventId: string | undefined): number {
  return lastEventId !== undefined && /^\d{1,9}$/.test(lastEventId) ? Number(lastEventId) : 0
}

/** Starts the server; `routes` may add more (e.g. a page and the bundled client, for the browser); `port` 0 is any free one. */
export async function startClientTestServer (t: Test, routes?: (app: FastifyInstance) => void, port = 0): Promise<ClientTestServer> {
  const app = Fastify({ logger: false, pluginTimeout: 60_000 }) // a loaded machine may be slow to start
  await app.register(fastifyTypedSse, { heartbeatInterval: 0 })
  const requests: LoggedRequest[] = []
  const sources: ClientTestServer['sources'] = {}
  const open = new Map<AbortController, { end (): unknown }>()
  const chats = new Set<{ destroy (): void }>()

  app.addHook('onRequest', async (request) => {
    const header = request.headers['last-event-id']
    requests.push({ method: request.method, path: request.url.split('?')[0]!, lastEventId: typeof header === 'string' ? Buffer.from(header, 'latin1').toString('utf8') : undefined, at: performance.now() })
  })

  /**
   * Runs `body` as a source counted under `name`, ended by the client leaving or by cut().
   * Cut, it waits for the stream's teardown instead of finishing (which would write the end
   * marker) while cut() ends the response.
   */
  async function * counted<Item> (name: string, response: { end (): unknown }, signal: AbortSignal, body: (stop: AbortSignal) => AsyncGenerator<Item>): AsyncGenerator<Item> {
    const counter = sources[name] ??= { started: 0, finished: 0 }
    const drop = new AbortController()
    open.set(drop, response)
    counter.started++
    try {
      yield * body(AbortSignal.any([signal, drop.signal]))
      if (drop.signal.aborted && !signal.aborted) await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
    } finally {
      open.delete(drop)
      counter.finished++
    }
  }

  // Numbered ticks after Last-Event-ID, a text note every third; 204 once `until` is reached.
  app.get<{ Querystring: { every?: string, until?: string } }>('/ticks', { schema: { sse: tickEvents } }, async (request, reply) => {
    const every = Number(request.query.every ?? 20)
    const until = request.query.until === undefined ? Infinity : Number(request.query.until)
    const from = after(request.headers['last-event-id'] as string | undefined)
    if (from >= until) return reply.code(204).send()
    return reply.sseStream(({ signal }) => counted('ticks', reply.raw, signal, async function * (stop) {
      for (let n = from + 1; n <= until; n++) {
        yield { event: 'tick', id: n, data: { n } }
        if (n % 3 === 0) yield { event: 'note', data: String(n * 14) }
        if (!await pause(every, stop)) return
      }
    }))
  })

  // The AI pattern: POST a prompt, get deltas, then [DONE].
  app.post<{ Body: { prompt: string, tokens?: number, every?: number } }>('/chat', {
    schema: { body: Type.Object({ prompt: Type.String(), tokens: Type.Optional(Type.Integer()), every: Type.Optional(Type.Integer()) }), sse: { message: Delta } }
  }, async (request, reply) => {
    const { prompt, tokens = 5, every = 10 } = request.body
    chats.add(reply.raw)
    reply.raw.on('close', () => chats.delete(reply.raw))
    return reply.sseStream(({ signal }) => counted('chat', reply.raw, signal, async function * (stop) {
      for (let i = 0; i < tokens; i++) {
        yield { data: { delta: `${prompt}${i} ` } }
        if (!await pause(every, stop)) return
      }
    }), { done: '[DONE]' })
  })

  // One tick, then the source throws: safe to show, or not.
  app.get<{ Querystring: { expose?: string } }>('/fails', { schema: { sse: tickEvents } }, async (request, reply) =>
    reply.sseStream(async function * () {
      yield { event: 'tick', id: 1, data: { n: 1 } }
      const error = Object.assign(new Error('the model is overloaded'), { expose: request.query.expose === '1' })
      throw error
    }))

  // Plain HTTP answers: an error status with a JSON body, text instead of a stream, nothing at all.
  app.get<{ Params: { code: string } }>('/status/:code', async (request, reply) => {
    const code = Number(request.params.code)
    if (code === 503) reply.header('retry-after', '0')
    return reply.code(code).send({ error: `status ${code}` })
  })
  app.get('/plain', async (_request, reply) => reply.type('text/plain').send('not a stream'))

  // A position, then a cut (an end without the marker): the client must come back after the position.
  app.get('/position', { schema: { sse: tickEvents } }, async (request, reply) => {
    const resumed = request.headers['last-event-id']
    return reply.sseStream(async function * () {
      if (resumed === undefined) yield { id: 41 }
      else yield { event: 'tick', id: after(resumed as string) + 1, data: { n: after(resumed as string) + 1 } }
    }, { endMarker: false })
  })

  // The hub's reset, from a plain route: a gap the client must hear of, and its new position.
  app.get('/reset', { schema: { sse: { ...tickEvents, reset: Reset } } }, async (_request, reply) =>
    reply.sseStream([
      { event: 'tick', id: 1, data: { n: 1 } },
      { event: 'reset', id: '9-0', data: { reason: 'history-lost' } },
      { event: 'tick', id: 10, data: { n: 10 } }
    ]))

  // A misconfigured server: no schema, so it sends what the client's schema refuses.
  app.get<{ Querystring: { kind?: string } }>('/wrong', async (request, reply) =>
    reply.sseStream(request.query.kind === 'name'
      ? [{ event: 'tick', data: { n: 1 } }, { event: 'tock', data: { n: 2 } }]
      : request.query.kind === 'reset'
        ? [{ event: 'reset', data: { reason: 'bored' } }]
        : request.query.kind === 'json'
          ? [{ event: 'tick', data: '{not json' }]
          : [{ event: 'tick', data: { n: 1 } }, { event: 'tick', data: { n: 'two' } }]))

  // Values of every kind, from a route without schemas: what the client decodes by its own schemas.
  app.get('/values', async (_request, reply) =>
    reply.sseStream([
      { event: 'text', data: '42' },
      { event: 'choice', data: 'b' },
      { event: 'point', data: { x: 1, y: 2 } },
      { event: 'count', data: 7 },
      { data: 'a message\nof two lines' }
    ]))

  // One event per connection, with the server's reconnection time; then a cut (no end marker).
  app.get<{ Querystring: { retry: string } }>('/retry', async (request, reply) => {
    const n = after(request.headers['last-event-id'] as string | undefined) + 1
    return reply.sseStream([{ event: 'tick', id: n, data: { n } }], { retry: Number(request.query.retry), endMarker: false })
  })

  // Never ends by itself: only the client leaving does.
  app.get('/forever', { schema: { sse: tickEvents } }, async (_request, reply) =>
    reply.sseStream(({ signal }) => counted('forever', reply.raw, signal, async function * (stop) {
      for (let n = 1; await pause(n === 1 ? 0 : 20, stop); n++) yield { event: 'tick', id: n, data: { n } }
    })))

  // A stream whose connection breaks: the socket is destroyed after three ticks.
  app.get('/breaks', { schema: { sse: tickEvents } }, async (request, reply) => {
    const from = after(request.headers['last-event-id'] as string | undefined)
    return reply.sseStream(async function * () {
      for (let n = from + 1; n <= from + 3; n++) {
        yield { event: 'tick', id: n, data: { n } }
        await pause(20, AbortSignal.timeout(1000))
      }
      reply.raw.destroy()
    })
  })

  // The id the server read from Last-Event-ID, echoed back as a note (for ids beyond ASCII).
  app.get('/echo-id', { schema: { sse: tickEvents } }, async (_request, reply) =>
    reply.sseStream(({ lastEventId }) => [{ event: 'note', id: '€ and 👋', data: lastEventId ?? '(none)' }]))

  routes?.(app)
  const url = await app.listen({ port, host: '127.0.0.1' })
  t.teardown(() => app.close())
  useFreshConnections(t)
  return {
    url,
    app,
    requests,
    requestsTo: (path) => requests.filter(request => request.path === path),
    sources,
    cut () {
      const count = open.size
      for (const [drop, response] of open) {
        drop.abort()
        response.end()
      }
      open.clear()
      return count
    },
    sever () {
      const count = chats.size
      for (const chat of chats) chat.destroy()
      chats.clear()
      return count
    }
  }
}
