// Rule 4: each event is checked against the route's schema.sse before any byte of it
// is written; an invalid one is logged through request.log and ends the stream or is
// skipped. Validators are compiled once per route, and bad schemas fail at registration.

import { test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import fastifyTypedSse, { type SseEventSchemas, type SseOptions } from '../index.js'
import { listen, withoutEndMarker } from './helpers/server.js'
import { captureLogs, type LogEntry } from './helpers/logs.js'

const Tick = Type.Object({ value: Type.Number() })
const FAILURE = { event: 'stream-error', id: undefined, data: '{"message":"Internal Server Error"}' }

interface Received {
  text: string
  events: Array<Pick<EventSourceMessage, 'event' | 'id' | 'data'>>
}

async function receive (url: string): Promise<Received> {
  // What the source sent: a finished stream's end marker is not part of it.
  const { body: text } = withoutEndMarker(await (await fetch(url)).text())
  const events: Received['events'] = []
  createParser({ onEvent: ({ event, id, data }) => events.push({ event, id, data }) }).feed(text)
  return { text, events }
}

const tick = (value: number): Pick<EventSourceMessage, 'event' | 'id' | 'data'> => ({ event: 'tick', id: undefined, data: JSON.stringify({ value }) })

/** Serves `items` on GET /NAME with the route schema `sse`, recording each request's id. */
async function serve (
  routes: Record<string, { sse?: SseEventSchemas, items: unknown[], options?: Record<string, unknown> }>,
  plugin: SseOptions = {}
): Promise<{ app: FastifyInstance, url: string, logs: LogEntry[], requestIds: string[] }> {
  const { entries, logger } = captureLogs()
  const requestIds: string[] = []
  const { app, url } = await listen((app) => {
    for (const [name, route] of Object.entries(routes)) {
      app.get(`/${name}`, route.sse === undefined ? {} : { schema: { sse: route.sse } }, async (request, reply) => {
        requestIds.push(request.id)
        return reply.sseStream(route.items as never, route.options)
      })
    }
  }, { plugin: { heartbeatInterval: 0, ...plugin }, fastify: { logger } })
  return { app, url, logs: entries, requestIds }
}

test('an unknown event name writes nothing of it, is logged with the name, and ends the stream', async (t) => {
  const { app, url, logs, requestIds } = await serve({
    unknown: {
      sse: { tick: Tick },
      items: [{ event: 'tick', data: { value: 1 } }, { event: 'bogus', data: { value: 2, marker: 'MARKER' } }, { event: 'tick', data: { value: 3 } }]
    }
  })
  t.teardown(() => app.close())
  const received = await receive(`${url}/unknown`)
  t.strictSame(received.events, [tick(1), FAILURE])
  t.notOk(received.text.includes('bogus'), 'the name was not written')
  t.notOk(received.text.includes('MARKER'), 'the payload was not written')
  t.equal(logs.length, 1)
  t.equal(logs[0]?.level, 50, 'logged as an error')
  t.equal(logs[0]?.reqId, requestIds[0], 'logged through request.log')
  t.equal(logs[0]?.event, 'bogus')
  t.equal(logs[0]?.err?.code, 'FST_SSE_INVALID_EVENT')
  t.match(logs[0]?.msg, /"bogus"/)
})

test('an invalid payload writes nothing of it and is logged with the schema errors', async (t) => {
  const { app, url, logs, requestIds } = await serve({
    payload: {
      sse: { tick: Tick },
      items: [{ event: 'tick', data: { value: 1 } }, { event: 'tick', data: { value: 'MARKER' } }, { event: 'tick', data: { value: 3 } }]
    }
  })
  t.teardown(() => app.close())
  const received = await receive(`${url}/payload`)
  t.strictSame(received.events, [tick(1), FAILURE])
  t.notOk(received.text.includes('MARKER'))
  t.equal(logs.length, 1)
  t.equal(logs[0]?.reqId, requestIds[0])
  t.equal(logs[0]?.event, 'tick')
  t.equal(logs[0]?.err?.code, 'FST_SSE_INVALID_EVENT')
  t.match(logs[0]?.msg, /"tick"/)
  t.match(logs[0]?.errors, [{ path: '/value', message: /number/i }], 'the schema error names the path and the problem')
})

test('"message" is the name of unnamed events', async (t) => {
  const { app, url, logs } = await serve({
    undeclared: { sse: { tick: Tick }, items: [{ data: { value: 1 } }, { event: 'tick', data: { value: 2 } }] },
    declared: {
      sse: { message: Type.String(), tick: Tick },
      items: [{ data: 'hi' }, { event: 'message', data: 'yo' }, { event: 'tick', data: { value: 2 } }, { data: 5 }, { data: 'never' }]
    }
  })
  t.teardown(() => app.close())

  const undeclared = await receive(`${url}/undeclared`)
  t.strictSame(undeclared.events, [FAILURE], 'an unnamed event on a route without "message" is unknown')
  t.equal(logs[0]?.event, 'message')

  const declared = await receive(`${url}/declared`)
  t.strictSame(declared.events, [
    { event: undefined, id: undefined, data: 'hi' },
    { event: undefined, id: undefined, data: 'yo' },
    tick(2),
    FAILURE
  ], 'unnamed and "message" events are checked against the message schema and written without event:')
  t.notOk(declared.text.includes('event: message'))
  t.equal(logs.length, 2)
  t.equal(logs[1]?.event, 'message')
  t.ok((logs[1]?.errors ?? []).length > 0, 'the wrong message payload is logged with its schema errors')
})

test('onInvalidEvent \'skip\' drops invalid events and keeps streaming', async (t) => {
  const { app, url, logs } = await serve({
    skip: {
      sse: { tick: Tick },
      items: [
        { event: 'tick', data: { value: 1 } },
        { event: 'bogus', data: { value: 2 } },
        { event: 'tick', data: { value: 'two' } },
        { event: 'tick', data: { value: 3 } }
      ]
    }
  }, { onInvalidEvent: 'skip' })
  t.teardown(() => app.close())
  const received = await receive(`${url}/skip`)
  t.strictSame(received.events, [tick(1), tick(3)], 'no failure event either')
  t.same(logs.map(entry => entry.event), ['bogus', 'tick'], 'each dropped event is logged')
})

test('a stream can override the plugin\'s onInvalidEvent', async (t) => {
  const items = [{ event: 'tick', data: { value: 1 } }, { event: 'bogus', data: 1 }, { event: 'tick', data: { value: 2 } }]
  t.test('plugin skip, stream end', async (t) => {
    const { app, url } = await serve({ end: { sse: { tick: Tick }, items, options: { onInvalidEvent: 'end' } } }, { onInvalidEvent: 'skip' })
    t.teardown(() => app.close())
    t.strictSame((await receive(`${url}/end`)).events, [tick(1), FAILURE])
  })
  t.test('plugin end, stream skip', async (t) => {
    const { app, url } = await serve({ skip: { sse: { tick: Tick }, items, options: { onInvalidEvent: 'skip' } } }, { onInvalidEvent: 'end' })
    t.teardown(() => app.close())
    t.strictSame((await receive(`${url}/skip`)).events, [tick(1), tick(2)])
  })
})

test('validate: false writes unchecked names and payloads, but the framing rules still hold', async (t) => {
  const items = [
    { event: 'undeclared', data: 'x' },
    { event: 'tick', data: { value: 'not a number' } },
    { event: 'a\nb', data: 'lost' },
    { id: '1\r\n', data: 'lost' },
    { retry: -1, data: 'lost' },
    { event: 'tick', data: { value: 9 } }
  ]
  const expected = [
    { event: 'undeclared', id: undefined, data: 'x' },
    { event: 'tick', id: undefined, data: '{"value":"not a number"}' },
    tick(9)
  ]

  t.test('plugin-level', async (t) => {
    const { app, url, logs } = await serve({ unchecked: { sse: { tick: Tick }, items } }, { validate: false, onInvalidEvent: 'skip' })
    t.teardown(() => app.close())
    const received = await receive(`${url}/unchecked`)
    t.strictSame(received.events, expected)
    t.notOk(received.text.includes('lost'))
    t.equal(logs.length, 3, 'each framing violation is logged')
  })

  t.test('per stream, and a stream can turn validation back on', async (t) => {
    const { app, url } = await serve({
      off: { sse: { tick: Tick }, items, options: { validate: false, onInvalidEvent: 'skip' } },
      on: { sse: { tick: Tick }, items, options: { validate: true, onInvalidEvent: 'skip' } }
    }, { validate: false })
    t.teardown(() => app.close())
    t.strictSame((await receive(`${url}/off`)).events, expected)
    t.strictSame((await receive(`${url}/on`)).events, [tick(9)])
  })

  t.test('with the default end policy a framing violation still ends the stream', async (t) => {
    const { app, url } = await serve({ unchecked: { sse: { tick: Tick }, items } }, { validate: false })
    t.teardown(() => app.close())
    t.strictSame((await receive(`${url}/unchecked`)).events, [...expected.slice(0, 2), FAILURE])
  })
})

test('a route without schema.sse streams untyped data, under the same framing rules', async (t) => {
  const { app, url, logs } = await serve({
    untyped: {
      items: [
        { event: 'anything', data: { free: ['form'] } },
        { data: 'text' },
        { event: 'x\ny', data: 'lost' },
        { data: 'never' }
      ]
    }
  })
  t.teardown(() => app.close())
  const received = await receive(`${url}/untyped`)
  t.strictSame(received.events, [
    { event: 'anything', id: undefined, data: '{"free":["form"]}' },
    { event: undefined, id: undefined, data: 'text' },
    FAILURE
  ])
  t.notOk(received.text.includes('lost'))
  t.equal(logs.length, 1)
})

test('validators are compiled once per route, never per request', async (t) => {
  const compiled: unknown[] = []
  const compile = TypeCompiler.Compile
  TypeCompiler.Compile = ((...args: Parameters<typeof compile>) => {
    compiled.push(args[0])
    return compile(...args)
  }) as typeof compile
  t.teardown(() => { TypeCompiler.Compile = compile })

  const app = Fastify()
  t.teardown(() => app.close())
  const route = (events: SseEventSchemas): { schema: { sse: SseEventSchemas } } => ({ schema: { sse: events } })
  const stream = async (_request: unknown, reply: { sseStream: (items: never) => unknown }): Promise<unknown> =>
    reply.sseStream([{ event: 'tick', data: { value: 1 } }] as never)

  // Registered before the plugin, so only seen on first use.
  app.get('/early', route({ tick: Tick, other: Type.String() }), stream as never)
  await app.register(fastifyTypedSse, { heartbeatInterval: 0 })
  app.get('/two', route({ tick: Tick, other: Type.String() }), stream as never)
  app.get('/one', route({ tick: Tick }), stream as never)
  app.post('/post', route({ tick: Tick }), stream as never)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })

  t.equal(compiled.length, 4, 'the routes the plugin saw are compiled by the time the app is ready')
  for (let n = 0; n < 5; n++) {
    t.strictSame((await receive(`${url}/two`)).events, [tick(1)])
    t.strictSame((await receive(`${url}/one`)).events, [tick(1)])
    await fetch(`${url}/post`, { method: 'POST' }).then(response => response.text())
    await fetch(`${url}/one`, { method: 'HEAD' }).then(response => response.text())
  }
  t.equal(compiled.length, 4, 'requests compile nothing')

  for (let n = 0; n < 5; n++) t.strictSame((await receive(`${url}/early`)).events, [tick(1)])
  t.equal(compiled.length, 6, 'a route registered before the plugin is compiled on its first request, then never again')
})

test('a bad schema.sse fails at registration with FST_SSE_INVALID_SCHEMA', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['the reserved name "error"', { error: Type.String() }],
    ['the reserved name "stream-error"', { 'stream-error': Type.String() }],
    ['the reserved name "end"', { end: Type.String() }],
    ['a plain JSON schema', { tick: { type: 'object' } }],
    ['a null schema', { tick: null }],
    ['a string schema', { tick: 'string' }],
    ['a name with LF', { 'a\nb': Type.String() }],
    ['a name with CR', { 'a\rb': Type.String() }],
    ['a name with NUL', { 'a\0b': Type.String() }],
    ['a name with a lone surrogate', { 'a\ud800': Type.String() }],
    ['an empty name', { '': Type.String() }],
    ['an array', [Type.String()]],
    ['a string', 'tick']
  ]
  for (const [label, sse] of cases) {
    const app = Fastify()
    app.register(fastifyTypedSse)
    app.register(async (scope) => {
      scope.get('/bad', { schema: { sse: sse as never } }, async () => 'unreachable')
    })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_SSE_INVALID_SCHEMA', message: /GET \/bad/ }, label)
    await app.close().catch(() => {})
  }

  const reserved = Fastify()
  reserved.register(fastifyTypedSse)
  reserved.register(async (scope) => {
    scope.get('/bad', { schema: { sse: { end: Type.String() } } }, async () => 'unreachable')
  })
  await t.rejects(async () => { await reserved.ready() }, { message: /event name "end" is reserved \(the plugin sends it when a stream's source finishes\)/ }, '"end" is refused with the reason')
  await reserved.close().catch(() => {})

  // Valid names that look odd are fine.
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyTypedSse)
  app.get('/fine', { schema: { sse: { message: Type.String(), 'with space': Type.Null(), 'a:b': Type.Any(), '😀': Type.Number() } } }, async () => 'ok')
  await t.resolves(async () => { await app.ready() })
})

test('a bad schema.sse on a route registered before the plugin fails its requests with a JSON 500', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/early', { schema: { sse: { error: Type.String() } } }, async (_request, reply) => reply.sseStream([{ data: 'x' }] as never))
  await app.register(fastifyTypedSse)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const response = await fetch(`${url}/early`)
  t.equal(response.status, 500)
  t.match(response.headers.get('content-type'), /application\/json/)
  t.match(await response.json(), { code: 'FST_SSE_INVALID_SCHEMA' })
})
