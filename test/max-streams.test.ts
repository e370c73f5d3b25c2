// Rule 14: maxStreams bounds the open streams of one registration. The stream at
// the limit opens, the one past it gets Fastify's JSON error (503,
// FST_SSE_TOO_MANY_STREAMS, retry-after) before anything is sent and its source is
// never started; a stream that ends frees its place.

import { test } from 'tap'
import { once } from 'node:events'
import Fastify from 'fastify'
import fastifyTypedSse, { type SseOptions } from '../index.js'
import { listen } from './helpers/server.js'
import { connect, type SseClient } from './helpers/sse-client.js'
import { waitFor } from './helpers/wait.js'

const LIMIT = 3

/** A source that waits until its stream ends. */
function idle (counts: { started: number }) {
  return async function * ({ signal }: { signal: AbortSignal }) {
    counts.started++
    yield { data: 'open' }
    await once(signal, 'abort')
  }
}

test('maxStreams streams open, the next one is refused with 503 and retry-after, and an ended stream frees its place', async (t) => {
  const counts = { started: 0 }
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(idle(counts)))
  }, { plugin: { maxStreams: LIMIT, heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  const clients: SseClient[] = []
  t.teardown(() => { for (const client of clients) client.leave() })
  for (let i = 0; i < LIMIT; i++) {
    const client = await connect(url)
    clients.push(client)
    t.equal(client.response.statusCode, 200, `stream ${i + 1} of ${LIMIT} opens`)
  }
  await waitFor(() => counts.started === LIMIT, 5000, 'the sources to start')

  const refused = await fetch(url)
  t.equal(refused.status, 503, `stream ${LIMIT + 1} is refused`)
  t.equal(refused.headers.get('retry-after'), '3', 'with retry-after')
  t.match(refused.headers.get('content-type'), /^application\/json/, 'as Fastify\'s JSON error')
  t.match(await refused.json(), { statusCode: 503, code: 'FST_SSE_TOO_MANY_STREAMS', message: /maxStreams is 3/ })
  t.equal(counts.started, LIMIT, 'the refused stream\'s source never started')
  t.match(app.sseStats(), { open: LIMIT, opened: LIMIT, rejected: 1 })

  clients.shift()!.leave()
  await waitFor(() => app.sseStats().open === LIMIT - 1, 5000, 'the stream of the client that left to end')
  const again = await connect(url)
  clients.push(again)
  t.equal(again.response.statusCode, 200, 'the freed place is taken by a new stream')
  const refusedAgain = await fetch(url)
  t.equal(refusedAgain.status, 503, 'and the limit holds again')
  await refusedAgain.arrayBuffer()
  t.match(app.sseStats(), { open: LIMIT, opened: LIMIT + 1, rejected: 2 })
})

test('retry-after follows the stream\'s retry option, in seconds rounded up', async (t) => {
  const counts = { started: 0 }
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(idle(counts), { retry: 10_500 }))
  }, { plugin: { maxStreams: 1, heartbeatInterval: 0 } })
  t.teardown(() => app.close())
  const first = await connect(url)
  t.teardown(() => first.leave())
  const refused = await fetch(url)
  t.equal(refused.status, 503)
  t.equal(refused.headers.get('retry-after'), '11')
  await refused.arrayBuffer()
})

test('maxStreams 0 (the default) is no limit', async (t) => {
  const counts = { started: 0 }
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(idle(counts)))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())
  const clients = await Promise.all(Array.from({ length: 20 }, async () => await connect(url)))
  t.teardown(() => { for (const client of clients) client.leave() })
  t.same(clients.map(client => client.response.statusCode), Array(20).fill(200))
  t.equal(app.sseStats().rejected, 0)
})

test('HEAD requests are not streams: they are never refused and take no place', async (t) => {
  const counts = { started: 0 }
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(idle(counts)))
  }, { plugin: { maxStreams: 1, heartbeatInterval: 0 } })
  t.teardown(() => app.close())
  const only = await connect(url)
  t.teardown(() => only.leave())
  const head = await fetch(url, { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD gets the headers while the one place is taken')
  t.equal(app.sseStats().rejected, 0)
})

test('maxStreams must be a non-negative integer, and is a plugin option only', async (t) => {
  for (const maxStreams of [-1, 2.5, '10', Number.POSITIVE_INFINITY]) {
    const app = Fastify()
    app.register(fastifyTypedSse, { maxStreams } as unknown as SseOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_SSE_INVALID_OPTION', message: /maxStreams/ }, `maxStreams ${String(maxStreams)}`)
  }
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream([{ data: 'x' }], { maxStreams: 1 } as never))
  })
  t.teardown(() => app.close())
  const response = await fetch(url)
  t.equal(response.status, 500)
  t.match(await response.json(), { code: 'FST_SSE_INVALID_OPTION', message: /unknown option "maxStreams"/ })
})
