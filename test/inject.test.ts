// app.inject() (light-my-request, no socket) on finite streams: the whole body and the
// stream's headers, for an untyped route, a typed TypeBox route, and the done sentinel.

import { test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import fastifyTypedSse from '../index.js'

const Tick = Type.Object({ value: Type.Number() })
const Note = Type.String()

function eventsOf (body: string): Array<Pick<EventSourceMessage, 'event' | 'id' | 'data'>> {
  const events: Array<Pick<EventSourceMessage, 'event' | 'id' | 'data'>> = []
  createParser({ onEvent: ({ event, id, data }) => events.push({ event, id, data }) }).feed(body)
  return events
}

async function build (): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyTypedSse, { heartbeatInterval: 0 })
  return app
}

test('inject on a finite stream returns the whole body with the stream\'s headers', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  app.get('/', async (_request, reply) => reply.sseStream(async function * () {
    yield { data: 'one' }
    await new Promise(resolve => setImmediate(resolve)) // later writes must reach the injected response too
    yield { event: 'two', id: '2', data: { n: 2 } }
    await new Promise(resolve => setTimeout(resolve, 20))
    yield { data: 'three\r\nlines' }
  }))

  const response = await app.inject({ method: 'GET', url: '/' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(response.headers['cache-control'], 'no-cache, no-transform')
  t.equal(response.headers['x-accel-buffering'], 'no')
  t.equal(response.headers['content-length'], undefined)
  t.equal(response.body, 'data: one\n\nevent: two\nid: 2\ndata: {"n":2}\n\ndata: three\ndata: lines\n\nevent: end\ndata: [DONE]\n\n')
})

test('inject on a typed route, with and without the TypeBox type provider', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  app.withTypeProvider<TypeBoxTypeProvider>().get('/provider', { schema: { sse: { tick: Tick, note: Note } } }, async (_request, reply) =>
    reply.sseStream([{ event: 'tick', data: { value: 1 } }, { event: 'note', data: 'hi', id: 3 }]))
  app.get('/plain', { schema: { sse: { tick: Tick, message: Note } } }, async (_request, reply) =>
    reply.sseStream(function * () {
      yield { event: 'tick' as const, data: { value: 2 } }
      yield { data: 'unnamed' }
    }))
  app.get('/invalid', { schema: { sse: { tick: Tick } } }, async (_request, reply) =>
    reply.sseStream([{ event: 'tick', data: { value: 1 } }, { event: 'tick', data: { value: 'oops' } } as never]))

  const provider = await app.inject('/provider')
  t.equal(provider.statusCode, 200)
  t.strictSame(eventsOf(provider.body), [
    { event: 'tick', id: undefined, data: '{"value":1}' },
    { event: 'note', id: '3', data: 'hi' },
    { event: 'end', id: undefined, data: '[DONE]' }
  ])

  const plain = await app.inject('/plain')
  t.strictSame(eventsOf(plain.body), [
    { event: 'tick', id: undefined, data: '{"value":2}' },
    { event: undefined, id: undefined, data: 'unnamed' },
    { event: 'end', id: undefined, data: '[DONE]' }
  ])

  const invalid = await app.inject('/invalid')
  t.equal(invalid.statusCode, 200)
  t.strictSame(eventsOf(invalid.body), [
    { event: 'tick', id: undefined, data: '{"value":1}' },
    { event: 'stream-error', id: undefined, data: '{"message":"Internal Server Error"}' }
  ], 'the invalid event ends the stream there')
  t.notOk(invalid.body.includes('oops'))
})

test('inject sees the done sentinel and the retry option', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyTypedSse, { heartbeatInterval: 0, retry: 1500 })
  app.post('/chat', async (_request, reply) => reply.sseStream([{ data: { delta: 'Hel' } }, { data: { delta: 'lo' } }], { done: '[DONE]' }))

  const response = await app.inject({ method: 'POST', url: '/chat', payload: { prompt: 'hi' } })
  t.equal(response.statusCode, 200)
  t.equal(response.body, 'retry: 1500\ndata: {"delta":"Hel"}\n\ndata: {"delta":"lo"}\n\ndata: [DONE]\n\n')
})

test('inject with HEAD gets the headers and no body', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  let started = 0
  app.get('/', async (_request, reply) => reply.sseStream(() => { started++; return [{ data: 'x' }] }))
  const response = await app.inject({ method: 'HEAD', url: '/' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(response.body, '')
  t.equal(started, 0)
})
