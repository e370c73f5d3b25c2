// Rule 12: streams over HTTP/2 (h2c, Fastify({ http2: true })) with node:http2 as the
// client: the right headers and no connection header (nor the warning Node gives for
// one), parsed events, teardown when the client cancels, and a prompt app.close().

import { test, teardown } from 'tap'
import http2 from 'node:http2'
import Fastify, { type FastifyInstance } from 'fastify'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import fastifyTypedSse from '../index.js'

const warnings: Error[] = []
const onWarning = (warning: Error): void => { warnings.push(warning) }
process.on('warning', onWarning)
teardown(() => { process.off('warning', onWarning) })

/** Resolves when `condition` holds, or rejects after `ms`. */
async function until (condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

interface Opened {
  headers: Promise<http2.IncomingHttpHeaders>
  events: Array<Pick<EventSourceMessage, 'event' | 'id' | 'data'>>
  ended: Promise<void>
  stream: http2.ClientHttp2Stream
}

function open (client: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}): Opened {
  const stream = client.request({ ':path': path, ...headers })
  const events: Opened['events'] = []
  const parser = createParser({ onEvent: ({ event, id, data }) => events.push({ event, id, data }) })
  const decoder = new TextDecoder()
  stream.on('data', (chunk: Buffer) => parser.feed(decoder.decode(chunk, { stream: true })))
  const headersReceived = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.once('response', resolve)
    stream.once('error', reject)
  })
  const ended = new Promise<void>((resolve) => stream.once('close', resolve))
  return { headers: headersReceived, events, ended, stream }
}

async function serveH2 (setup: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance, url: string, client: http2.ClientHttp2Session }> {
  const app = Fastify({ http2: true }) as unknown as FastifyInstance
  await app.register(fastifyTypedSse, { heartbeatInterval: 0 })
  setup(app)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const client = http2.connect(url)
  client.on('error', () => {}) // a session torn down by app.close() may report it; the assertions say what matters
  return { app, url, client }
}

test('an HTTP/2 stream has the event-stream headers, no connection header, and its events', async (t) => {
  const { app, client } = await serveH2((app) => {
    app.get('/', async (_request, reply) => {
      reply.header('connection', 'keep-alive') // forbidden on HTTP/2: the plugin must drop it
      return reply.sseStream([{ data: 'a' }, { event: 'tick', id: '1', data: { n: 1 } }, { data: 'multi\r\nline' }], { done: '[DONE]' })
    })
  })
  t.teardown(() => { client.close(); return app.close() })
  const warningsBefore = warnings.length

  const opened = open(client, '/')
  const headers = await opened.headers
  await opened.ended
  t.equal(headers[':status'], 200)
  t.equal(headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(headers['cache-control'], 'no-cache, no-transform')
  t.equal(headers['x-accel-buffering'], 'no')
  t.equal(headers.connection, undefined, 'no connection header on HTTP/2')
  t.equal(headers['transfer-encoding'], undefined)
  t.strictSame(opened.events, [
    { event: undefined, id: undefined, data: 'a' },
    { event: 'tick', id: '1', data: '{"n":1}' },
    { event: undefined, id: undefined, data: 'multi\nline' },
    { event: undefined, id: undefined, data: '[DONE]' }
  ])
  await new Promise(resolve => setImmediate(resolve)) // warnings are emitted on a later tick
  t.same(warnings.slice(warningsBefore).map(warning => `${warning.name}: ${warning.message}`), [], 'no process warnings')
})

test('the Last-Event-ID of an HTTP/2 request arrives decoded', async (t) => {
  const { app, client } = await serveH2((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(({ lastEventId }) => [{ data: { lastEventId: lastEventId ?? null } }]))
  })
  t.teardown(() => { client.close(); return app.close() })
  // node:http2 sends a header string as latin1, so these are the id's UTF-8 bytes, as a browser sends them.
  const opened = open(client, '/', { 'last-event-id': Buffer.from('page…🎉', 'utf8').toString('latin1') })
  await opened.ended
  t.strictSame(opened.events.map(event => event.event === 'end' ? event.data : JSON.parse(event.data)), [{ lastEventId: 'page…🎉' }, '[DONE]'])
})

test('a client that cancels an HTTP/2 stream tears its source down', async (t) => {
  let aborted = false
  let finallyRan = false
  const { app, client } = await serveH2((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      try {
        yield { data: 'first' }
        await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
        aborted = signal.aborted
        yield { data: 'never seen' }
      } finally {
        finallyRan = true
      }
    }))
  })
  t.teardown(() => { client.close(); return app.close() })

  const opened = open(client, '/')
  await opened.headers
  await until(() => opened.events.length === 1, 5000, 'the first event')
  opened.stream.close(http2.constants.NGHTTP2_CANCEL)
  await until(() => finallyRan, 5000, 'the source\'s finally block')
  t.ok(aborted, 'the signal aborted')
  t.ok(finallyRan, 'finally ran')
  t.strictSame(opened.events.map(event => event.data), ['first'])
})

test('app.close() resolves promptly with HTTP/2 streams open, and ends each of them', async (t) => {
  const STREAMS = 20
  let started = 0
  let finished = 0
  const { app, client } = await serveH2((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      started++
      try {
        yield { data: 'open' }
        await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
      } finally {
        finished++
      }
    }))
  })
  const secondClient = http2.connect(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`)
  secondClient.on('error', () => {})
  t.teardown(() => { client.close(); secondClient.close() })

  const streams = Array.from({ length: STREAMS }, (_, n) => open(n % 2 === 0 ? client : secondClient, '/'))
  await until(() => streams.every(opened => opened.events.length === 1), 10_000, 'every stream\'s first event')
  t.equal(started, STREAMS)

  const closing = Date.now()
  await app.close()
  const elapsed = Date.now() - closing
  t.ok(elapsed < 3000, `app.close() resolved in ${elapsed} ms`)
  await until(() => finished === STREAMS, 5000, 'every source\'s finally block')
  t.equal(finished, STREAMS, 'every source was torn down')
  let streamsEnded = 0
  for (const opened of streams) opened.ended.then(() => { streamsEnded++ }, () => {})
  await until(() => streamsEnded === STREAMS, 5000, 'every client stream\'s end')
  t.equal(streamsEnded, STREAMS, 'every client stream ended')
})
