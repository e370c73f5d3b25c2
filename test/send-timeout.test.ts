// Rule 13, the send timeout: a client that reads slowly but steadily is never
// dropped; sendTimeout 0 keeps a stalled client; bad values are refused. The
// slow-loris test (2,000 clients that never read) is test/slow-loris.test.ts.

import { test } from 'tap'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import fastifyTypedSse, { type SseOptions } from '../index.js'
import { listen } from './helpers/server.js'
import { waitFor } from './helpers/wait.js'

const PAYLOAD = 'x'.repeat(1000)

/** A raw socket that sends the request and never reads a byte of the response. */
function stalledClient (port: number, path = '/'): net.Socket {
  const socket = net.connect(port, '127.0.0.1')
  socket.pause()
  socket.on('error', () => {}) // the server cuts it: ECONNRESET
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  return socket
}

/** A source that floods: it only waits when the socket's buffer is full. */
function flood (counts: { started: number, finalized: number }) {
  return async function * () {
    counts.started++
    try {
      for (let n = 0; ; n++) yield { id: n, data: PAYLOAD }
    } finally {
      counts.finalized++
    }
  }
}

test('a client that reads far slower than the source floods, but steadily, is never dropped', async (t) => {
  const sendTimeout = 3000
  const counts = { started: 0, finalized: 0 }
  let drains = 0
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => {
      reply.raw.on('drain', () => drains++)
      return reply.sseStream(flood(counts))
    })
  }, { plugin: { sendTimeout, heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  // 64 KB every 50 ms: about 1.3 MB/s, a fraction of what the source would send.
  const socket = stalledClient(Number(new URL(url).port))
  t.teardown(() => socket.destroy())
  let received = 0
  let closed = false
  socket.on('close', () => { closed = true })
  const reading = setInterval(() => {
    const chunk = socket.read(Math.min(64 * 1024, socket.readableLength)) as Buffer | null
    if (chunk === null) socket.read(0) // ask for more from the kernel
    else received += chunk.length
  }, 50)
  t.teardown(() => clearInterval(reading))

  const started = performance.now()
  await sleep(4 * sendTimeout)
  const seconds = (performance.now() - started) / 1000
  t.notOk(closed, 'the connection is still open')
  t.equal(counts.finalized, 0, 'the source is still running')
  t.same(app.sseStats().ended.stalled, 0, 'no stream ended as stalled')
  t.ok(drains > 0, `the client was slower than the source: the stream waited for drain ${drains} times`)
  t.ok(received > 4 * 1024 * 1024, `the client kept reading (${mb(received)} MB in ${seconds.toFixed(1)} s)`)
})

test('sendTimeout 0 on a stream keeps a client that never reads', async (t) => {
  const counts = { started: 0, finalized: 0 }
  const { app, url } = await listen((app) => {
    app.get('/kept', async (_request, reply) => reply.sseStream(flood(counts), { sendTimeout: 0 }))
    app.get('/dropped', async (_request, reply) => reply.sseStream(flood(counts)))
  }, { plugin: { sendTimeout: 500, heartbeatInterval: 0 } })
  t.teardown(() => app.close())
  const port = Number(new URL(url).port)

  const kept = stalledClient(port, '/kept')
  const dropped = stalledClient(port, '/dropped')
  t.teardown(() => { kept.destroy(); dropped.destroy() })
  await waitFor(() => counts.finalized === 1, 10_000, 'the stalled stream of the default route to be dropped')
  await sleep(2000)
  t.equal(counts.finalized, 1, 'the stream with sendTimeout 0 is still open, 4 timeouts later')
  t.same(app.sseStats().ended, { finished: 0, clientGone: 0, failed: 0, invalidEvent: 0, stalled: 1, shutdown: 0 })
})

test('sendTimeout must be an integer number of milliseconds', async (t) => {
  for (const sendTimeout of [-1, 1.5, '1000', 2 ** 31]) {
    const app = Fastify()
    app.register(fastifyTypedSse, { sendTimeout } as unknown as SseOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_SSE_INVALID_OPTION', message: /sendTimeout/ }, `sendTimeout ${JSON.stringify(sendTimeout)}`)
  }
})

function mb (bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1)
}
