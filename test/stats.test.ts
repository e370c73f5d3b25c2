// fastify.sseStats() and the diagnostics_channel messages, in a controlled
// scenario with one stream per end reason: exact counts of streams, reasons,
// events and invalid events, and bytes that match what the clients received.

import { test } from 'tap'
import diagnostics from 'node:diagnostics_channel'
import net from 'node:net'
import { once } from 'node:events'
import Fastify, { type FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifyTypedSse, { type SseStats, type SseStreamMessage } from '../index.js'
import { listen } from './helpers/server.js'
import { connect } from './helpers/sse-client.js'
import { waitFor } from './helpers/wait.js'

/** The whole body of a stream that ends by itself, as bytes. */
async function body (url: string): Promise<Buffer> {
  const response = await fetch(url)
  return Buffer.from(await response.arrayBuffer())
}

test('sseStats and the diagnostics channels count every end reason, event and byte exactly', async (t) => {
  const opens: SseStreamMessage[] = []
  const closes: SseStreamMessage[] = []
  const onOpen = (message: unknown): void => { opens.push(message as SseStreamMessage) }
  const onClose = (message: unknown): void => { closes.push(message as SseStreamMessage) }
  diagnostics.subscribe('fastify-typed-sse:stream:open', onOpen)
  diagnostics.subscribe('fastify-typed-sse:stream:close', onClose)
  t.teardown(() => {
    diagnostics.unsubscribe('fastify-typed-sse:stream:open', onOpen)
    diagnostics.unsubscribe('fastify-typed-sse:stream:close', onClose)
  })

  const schema = { sse: { tick: Type.Object({ value: Type.Number() }) } }
  const { app, url } = await listen((app) => {
    // finished: two events, a comment (not an event) and the done sentinel (an event)
    app.get('/finished', { schema }, async (_request, reply) =>
      reply.sseStream([{ event: 'tick', data: { value: 1 } }, { comment: 'hi' }, { event: 'tick', data: { value: 2 } }], { done: '[DONE]' }))
    // failed: one event, then the failure event
    app.get('/failed', { schema }, async (_request, reply) => reply.sseStream(async function * () {
      yield { event: 'tick', data: { value: 1 } }
      throw new Error('boom')
    }))
    // invalidEvent: one skipped invalid event is counted but does not end the stream (which finishes with the end marker); the second ends it
    // Items the route's types refuse, as an untyped source would yield them.
    app.get('/invalid', { schema }, async (_request, reply) => reply.sseStream(async function * () {
      yield { event: 'tick', data: { value: 'one' } }
      yield { event: 'tick', data: { value: 1 } }
    } as never, { onInvalidEvent: 'skip' }))
    app.get('/invalid-end', { schema }, async (_request, reply) => reply.sseStream([{ event: 'tock', data: { value: 1 } }] as never))
    // clientGone and shutdown: one event, then the source waits for its end
    app.get('/waits', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      yield { data: 'waiting' }
      await once(signal, 'abort')
    }))
    // stalled: floods a client that never reads
    app.get('/floods', async (_request, reply) => reply.sseStream(async function * () {
      for (;;) yield { data: 'x'.repeat(16 * 1024) }
    }, { sendTimeout: 400 }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  t.same(app.sseStats(), {
    open: 0, opened: 0, ended: { finished: 0, clientGone: 0, failed: 0, invalidEvent: 0, stalled: 0, shutdown: 0 }, events: 0, bytes: 0, invalidEvents: 0, rejected: 0
  }, 'all zero before any stream')

  const finished = await body(`${url}/finished`)
  const failed = await body(`${url}/failed`)
  const invalid = await body(`${url}/invalid`)
  const invalidEnd = await body(`${url}/invalid-end`)
  t.equal(finished.toString(), 'event: tick\ndata: {"value":1}\n\n: hi\nevent: tick\ndata: {"value":2}\n\ndata: [DONE]\n\n')

  const leaving = await connect(`${url}/waits`)
  await waitFor(() => leaving.events.length === 1, 5000, 'the first event')
  leaving.leave()
  await waitFor(() => app.sseStats().ended.clientGone === 1, 5000, 'the stream of the client that left to end')

  const { port } = new URL(url)
  const stalled = net.connect(Number(port), '127.0.0.1')
  t.teardown(() => stalled.destroy())
  stalled.pause()
  stalled.on('error', () => {})
  stalled.write(`GET /floods HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  await waitFor(() => app.sseStats().ended.stalled === 1, 10_000, 'the stalled stream to be dropped')

  const staying = await connect(`${url}/waits`)
  await waitFor(() => staying.events.length === 1, 5000, 'the first event')
  t.equal(app.sseStats().open, 1, 'one stream is open')
  await app.close()

  const stats = app.sseStats()
  t.same(stats.ended, { finished: 2, clientGone: 1, failed: 1, invalidEvent: 1, stalled: 1, shutdown: 1 }, 'one stream ended for each reason (and the one that skipped its invalid event finished)')
  t.equal(stats.open, 0)
  t.equal(stats.opened, 7, 'seven streams were opened')
  t.equal(stats.invalidEvents, 2, 'the skipped and the ending invalid event')
  t.equal(stats.rejected, 0)

  t.equal(opens.length, 7, 'one open message per stream')
  t.equal(closes.length, 7, 'one close message per stream')
  for (const message of opens) {
    t.same({ reason: message.reason, events: message.events, bytes: message.bytes }, { reason: undefined, events: 0, bytes: 0 })
  }
  const byUrl = new Map<string, SseStreamMessage>()
  for (const message of closes) byUrl.set(`${(message.request as FastifyRequest).url} ${message.reason ?? ''}`, message)
  t.same(opens.map(message => (message.request as FastifyRequest).url),
    ['/finished', '/failed', '/invalid', '/invalid-end', '/waits', '/floods', '/waits'], 'the open messages carry the Fastify request')

  const expect = (key: string, events: number, bytes?: number): void => {
    const message = byUrl.get(key)
    t.ok(message, `a close message for ${key}`)
    t.equal(message?.events, events, `${key}: ${events} events`)
    if (bytes !== undefined) t.equal(message?.bytes, bytes, `${key}: as many bytes as the client received (${bytes})`)
  }
  expect('/finished finished', 3, finished.length)
  expect('/failed failed', 2, failed.length)
  expect('/invalid finished', 2, invalid.length) // its event and the end marker (an event)
  expect('/invalid-end invalidEvent', 1, invalidEnd.length)
  expect('/waits clientGone', 1, Buffer.byteLength('data: waiting\n\n'))
  expect('/waits shutdown', 1, Buffer.byteLength('data: waiting\n\n'))
  const flooded = byUrl.get('/floods stalled')
  // How many events the socket takes before it stalls depends on the kernel's
  // buffers and the machine's load; what is exact is the bytes per event.
  const floodedEventBytes = Buffer.byteLength(`data: ${'x'.repeat(16 * 1024)}\n\n`)
  t.ok(flooded !== undefined && flooded.events >= 1, `the stalled stream counted its events (${flooded?.events})`)
  t.equal(flooded?.bytes, (flooded?.events ?? 0) * floodedEventBytes, 'the stalled stream counted every byte it handed to the socket')

  t.equal(stats.events, closes.reduce((sum, message) => sum + message.events, 0), 'sseStats().events is the sum over the streams')
  t.equal(stats.bytes, closes.reduce((sum, message) => sum + message.bytes, 0), 'sseStats().bytes is the sum over the streams')
})

test('sseStats returns a copy, and nothing is published without subscribers', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream([{ data: 'one' }]))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())
  t.equal(diagnostics.channel('fastify-typed-sse:stream:open').hasSubscribers, false)
  await body(url)
  const first = app.sseStats()
  first.ended.finished = 99
  first.open = 99
  t.match(app.sseStats(), { open: 0, opened: 1, ended: { finished: 1 }, events: 2, bytes: Buffer.byteLength('data: one\n\nevent: end\ndata: [DONE]\n\n') }, 'the event and the end marker')
})

test('each registration counts its own streams', async (t) => {
  const parent = Fastify()
  t.teardown(() => parent.close())
  const stats: Array<() => SseStats> = []
  for (const prefix of ['/a', '/b']) {
    parent.register(async (child) => {
      await child.register(fastifyTypedSse, { heartbeatInterval: 0 })
      child.get('/', async (_request, reply) => reply.sseStream([{ data: prefix }]))
      stats.push(() => child.sseStats())
    }, { prefix })
  }
  const url = await parent.listen({ port: 0, host: '127.0.0.1' })
  await body(`${url}/a`)
  await body(`${url}/a`)
  await body(`${url}/b`)
  t.same(stats.map(read => read().opened), [2, 1])
})
