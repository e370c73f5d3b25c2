// Every schema kind schema.sse accepts, over real sockets: typebox 1.x (the package
// @fastify/type-provider-typebox 6 re-exports), Zod 4 and Valibot 1 (Standard
// Schema v1) beside TypeBox 0.34. Valid events pass; invalid ones are refused with
// their schema errors in the request's log; kinds mix in one route and one app;
// what is no schema, or validates asynchronously, is refused with a clear error.

import { execFile } from 'node:child_process'
import path from 'node:path'
import { test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type as TypeBox034 } from '@sinclair/typebox'
import { Type as TypeBox1, TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { EventSource } from 'eventsource'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import * as v from 'valibot'
import fastifyTypedSse, { type SseOptions } from '../index.js'
import { listen, readEvents, withoutEndMarker } from './helpers/server.js'
import { createParser } from 'eventsource-parser'
import { captureLogs, type LogEntry } from './helpers/logs.js'

/** GET /NAME serves `items` under the route schema `sse`; request ids and log lines are kept. */
async function serve (
  routes: Record<string, { sse: Record<string, unknown>, items: unknown[] }>,
  plugin: SseOptions = {}
): Promise<{ app: FastifyInstance, url: string, logs: LogEntry[], requestIds: string[] }> {
  const { entries, logger } = captureLogs()
  const requestIds: string[] = []
  const { app, url } = await listen((app) => {
    for (const [name, route] of Object.entries(routes)) {
      app.get(`/${name}`, { schema: { sse: route.sse as never } }, async (request, reply) => {
        requestIds.push(request.id)
        return reply.sseStream(route.items as never)
      })
    }
  }, { plugin: { heartbeatInterval: 0, ...plugin }, fastify: { logger } })
  return { app, url, logs: entries, requestIds }
}

async function receive (url: string): Promise<Array<{ event: string | undefined, data: string }>> {
  const { raw } = await readEvents(await fetch(url))
  // What the source sent: a finished stream's end marker is not part of it.
  const events: Array<{ event: string | undefined, data: string }> = []
  createParser({ onEvent: ({ event, data }) => events.push({ event, data }) }).feed(withoutEndMarker(raw).body)
  return events
}

// The same payload shape in each kind: a number, and a list of strings under a key with a slash.
const kinds = {
  'typebox 1.x': TypeBox1.Object({ value: TypeBox1.Number(), 'tags/all': TypeBox1.Array(TypeBox1.String()) }),
  'Zod 4': z.object({ value: z.number(), 'tags/all': z.array(z.string()) }),
  'Valibot 1': v.object({ value: v.number(), 'tags/all': v.array(v.string()) })
}

// Each kind's own words for "not a number" and "not a string".
const expectedErrors: Record<keyof typeof kinds, Array<{ path: string, message: RegExp }>> = {
  'typebox 1.x': [{ path: '/value', message: /must be number/ }, { path: '/tags~1all/1', message: /must be string/ }],
  'Zod 4': [{ path: '/value', message: /expected number/ }, { path: '/tags~1all/1', message: /expected string/ }],
  'Valibot 1': [{ path: '/value', message: /Expected number/ }, { path: '/tags~1all/1', message: /Expected string/ }]
}

for (const [kind, Tick] of Object.entries(kinds) as Array<[keyof typeof kinds, typeof kinds[keyof typeof kinds]]>) {
  test(`${kind}: valid events pass, an invalid one is skipped and logged with its schema errors`, async (t) => {
    const { app, url, logs, requestIds } = await serve({
      ticks: {
        sse: { tick: Tick },
        items: [
          { event: 'tick', data: { value: 1, 'tags/all': ['a'] } },
          { event: 'tick', data: { value: 'two', 'tags/all': ['b', 2], marker: 'MARKER' } },
          { event: 'tick', data: { value: 3, 'tags/all': [] } }
        ]
      }
    }, { onInvalidEvent: 'skip' })
    t.teardown(() => app.close())

    t.strictSame(await receive(`${url}/ticks`), [
      { event: 'tick', data: '{"value":1,"tags/all":["a"]}' },
      { event: 'tick', data: '{"value":3,"tags/all":[]}' }
    ])
    t.equal(logs.length, 1, 'one log line, for the invalid event')
    t.equal(logs[0]?.reqId, requestIds[0], 'logged through request.log')
    t.equal(logs[0]?.event, 'tick')
    t.equal(logs[0]?.err?.code, 'FST_SSE_INVALID_EVENT')
    t.equal(logs[0]?.errors?.length, 2, 'both failures, nothing else')
    t.match(logs[0]?.errors, expectedErrors[kind])
    for (const error of logs[0]?.errors ?? []) t.strictSame(Object.keys(error), ['path', 'message'], 'each error is { path, message }')
  })

  test(`${kind}: an invalid event ends the stream with the failure event by default`, async (t) => {
    const { app, url, logs } = await serve({
      ticks: { sse: { tick: Tick }, items: [{ event: 'tick', data: { value: 1, 'tags/all': [] } }, { event: 'tick', data: { value: null, 'tags/all': [] } }, { event: 'tick', data: { value: 3, 'tags/all': [] } }] }
    })
    t.teardown(() => app.close())
    t.strictSame(await receive(`${url}/ticks`), [
      { event: 'tick', data: '{"value":1,"tags/all":[]}' },
      { event: 'stream-error', data: '{"message":"Internal Server Error"}' }
    ])
    t.match(logs, [{ event: 'tick', err: { code: 'FST_SSE_INVALID_EVENT' }, errors: [{ path: '/value' }] }])
  })
}

test('kinds mix in one route and in one app, each event checked by its own schema (read by the eventsource client)', async (t) => {
  const mixed = {
    old: TypeBox034.Object({ n: TypeBox034.Integer() }),
    new: TypeBox1.Object({ n: TypeBox1.Integer() }),
    zod: z.object({ n: z.int() }),
    message: v.string()
  }
  const { app, url, logs } = await serve({
    mixed: {
      sse: mixed,
      items: [
        { event: 'old', data: { n: 1 } },
        { event: 'old', data: { n: 1.5 } },
        { event: 'new', data: { n: 2 } },
        { event: 'new', data: { n: 2.5 } },
        { event: 'zod', data: { n: 3 } },
        { event: 'zod', data: { n: 3.5 } },
        { data: 'four' },
        { data: 4 },
        // A name declared by another route of the app is unknown here.
        { event: 'other', data: true },
        { event: 'zod', data: { n: 5 }, id: 'last' }
      ]
    },
    other: { sse: { other: z.boolean(), old: TypeBox034.String() }, items: [{ event: 'other', data: true }, { event: 'old', data: 'text' }, { event: 'old', data: { n: 1 } }] }
  }, { onInvalidEvent: 'skip' })
  t.teardown(() => app.close())

  const received: Array<{ type: string, data: string }> = []
  const source = new EventSource(`${url}/mixed`)
  await new Promise<void>((resolve, reject) => {
    for (const type of ['old', 'new', 'zod', 'message', 'other']) {
      source.addEventListener(type, (event) => {
        received.push({ type, data: event.data })
        if (event.lastEventId === 'last') resolve()
      })
    }
    source.addEventListener('error', () => { if (source.readyState === EventSource.CLOSED) reject(new Error('the stream failed')) })
  }).finally(() => source.close())
  t.strictSame(received, [
    { type: 'old', data: '{"n":1}' },
    { type: 'new', data: '{"n":2}' },
    { type: 'zod', data: '{"n":3}' },
    { type: 'message', data: 'four' },
    { type: 'zod', data: '{"n":5}' }
  ])
  t.strictSame(logs.map((entry) => entry.event), ['old', 'new', 'zod', 'message', 'other'], 'each refused event logged, in order')
  t.ok(logs.slice(0, 4).every((entry) => (entry.errors?.length ?? 0) > 0), 'with its schema errors')
  t.match(logs[4]?.msg, /unknown event "other"/)

  logs.length = 0
  t.strictSame(await receive(`${url}/other`), [{ event: 'other', data: 'true' }, { event: 'old', data: 'text' }], 'the other route checks "old" by its own schema')
  t.match(logs, [{ event: 'old', errors: [{ path: '' }] }])
})

test('a Standard Schema is validated once per event, and a failure is not validated again for the log', async (t) => {
  let calls = 0
  // A hand-written Standard Schema v1 validator: even numbers only.
  const Even = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value: unknown) => {
        calls++
        return typeof value === 'number' && value % 2 === 0 ? { value } : { issues: [{ message: 'must be even', path: [] }] }
      }
    }
  }
  const { app, url, logs } = await serve({ even: { sse: { message: Even }, items: [{ data: 2 }, { data: 3 }, { data: 4 }, { data: 6 }] } }, { onInvalidEvent: 'skip' })
  t.teardown(() => app.close())
  t.strictSame(await receive(`${url}/even`), [{ event: undefined, data: '2' }, { event: undefined, data: '4' }, { event: undefined, data: '6' }])
  t.equal(calls, 4, 'one validate call per event, none more for the failure\'s errors')
  t.match(logs, [{ errors: [{ path: '', message: 'must be even' }] }])
})

test('a callable Standard Schema (ArkType\'s types are functions) is accepted and checked', async (t) => {
  const Positive = Object.assign((value: unknown) => value, {
    '~standard': {
      version: 1 as const,
      vendor: 'callable',
      validate: (value: unknown) => typeof value === 'number' && value > 0 ? { value } : { issues: [{ message: 'must be positive', path: [{ key: 'n' }] }] }
    }
  })
  const { app, url, logs } = await serve({ positive: { sse: { n: Positive }, items: [{ event: 'n', data: 1 }, { event: 'n', data: -1 }, { event: 'n', data: 2 }] } }, { onInvalidEvent: 'skip' })
  t.teardown(() => app.close())
  t.strictSame(await receive(`${url}/positive`), [{ event: 'n', data: '1' }, { event: 'n', data: '2' }])
  t.match(logs, [{ event: 'n', errors: [{ path: '/n', message: 'must be positive' }] }])
})

test('a Standard Schema that validates asynchronously fails its stream at the first event, and the server keeps serving', async (t) => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })

  // Zod decides at run time: a schema with an async refinement returns a Promise from validate.
  const Checked = z.object({ n: z.number() }).refine(async ({ n }) => n > 0)
  const { app, url, logs } = await serve({
    async: { sse: { checked: Checked }, items: [{ event: 'checked', data: { n: 1 } }] },
    sync: { sse: { tick: z.number() }, items: [{ event: 'tick', data: 1 }] }
  }, { onInvalidEvent: 'skip' })
  t.teardown(() => app.close())

  for (let round = 0; round < 2; round++) {
    t.strictSame(await receive(`${url}/async`), [{ event: 'stream-error', data: '{"message":"Internal Server Error"}' }], 'nothing of the event; the failure event, even with skip')
  }
  t.equal(logs.length, 2, 'logged once per stream')
  t.equal(logs[0]?.err?.code, 'FST_SSE_INVALID_SCHEMA')
  t.match(logs[0]?.err?.message, /GET \/async.*"checked" validates asynchronously/)
  t.strictSame(await receive(`${url}/sync`), [{ event: 'tick', data: '1' }], 'other routes still stream')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.strictSame(unhandled, [], 'the dropped validation\'s rejection is handled')
})

test('registration refuses what is no schema, and a schema known to be async, saying what is accepted', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['a plain JSON schema', { type: 'object' }, /"tick" is not a schema: expected a TypeBox schema \(@sinclair\/typebox 0\.34 or typebox 1\.x\) or a Standard Schema v1 validator/],
    ['a function', () => true, /is not a schema/],
    ['a Standard Schema of another version', { '~standard': { version: 2, vendor: 'x', validate: () => ({ value: 1 }) } }, /is not a schema/],
    ['a Standard Schema without validate', { '~standard': { version: 1, vendor: 'x' } }, /is not a schema/],
    ['a Valibot async schema', v.pipeAsync(v.string(), v.checkAsync(async () => true)), /"tick" validates asynchronously/],
    ['a Valibot async object', v.objectAsync({ n: v.number() }), /validates asynchronously/]
  ]
  for (const [label, schema, message] of cases) {
    const app = Fastify()
    app.register(fastifyTypedSse)
    app.register(async (scope) => {
      scope.get('/bad', { schema: { sse: { tick: schema as never } } }, async () => 'unreachable')
    })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_SSE_INVALID_SCHEMA', message: new RegExp(`GET /bad.*${message.source}`) }, label)
    await app.close().catch(() => {})
  }

  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyTypedSse)
  app.get('/fine', { schema: { sse: { a: TypeBox1.Unsafe<string>({ type: 'string' }), b: z.never(), c: v.any(), d: TypeBox1.String() } } }, async () => 'ok')
  await t.resolves(async () => { await app.ready() }, 'typebox 1.x Unsafe and any Standard Schema are accepted')
})

test('with each type provider\'s compilers, the request is validated by the provider and the events by the plugin', async (t) => {
  const { entries, logger } = captureLogs()
  const { app, url } = await listen(async (app) => {
    await app.register(async (zodRoutes) => {
      zodRoutes.setValidatorCompiler(validatorCompiler)
      zodRoutes.setSerializerCompiler(serializerCompiler)
      zodRoutes.withTypeProvider<ZodTypeProvider>().post('/zod', {
        schema: { body: z.object({ prompt: z.string() }), sse: { message: z.object({ delta: z.string() }) } }
      }, async (request, reply) => reply.sseStream(async function * () {
        for (const delta of request.body.prompt.split(' ')) yield { data: { delta } }
        yield { data: { delta: 0 } } as never
      }))
    })
    await app.register(async (typeboxRoutes) => {
      typeboxRoutes.setValidatorCompiler(TypeBoxValidatorCompiler)
      typeboxRoutes.withTypeProvider<TypeBoxTypeProvider>().get('/typebox', {
        schema: { querystring: TypeBox1.Object({ from: TypeBox1.Integer() }), sse: { tick: TypeBox1.Object({ n: TypeBox1.Integer() }) } }
      }, async (request, reply) => reply.sseStream([{ event: 'tick', data: { n: request.query.from } }, { event: 'tick', data: { n: 0.5 } }]))
    })
  }, { plugin: { heartbeatInterval: 0 }, fastify: { logger } })
  t.teardown(() => app.close())

  const zod = await readEvents(await fetch(`${url}/zod`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hello there' }) }))
  t.strictSame(zod.events.map(({ event, data }) => ({ event, data })), [
    { event: undefined, data: '{"delta":"hello"}' },
    { event: undefined, data: '{"delta":"there"}' },
    { event: 'stream-error', data: '{"message":"Internal Server Error"}' }
  ])
  const badBody = await fetch(`${url}/zod`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":1}' })
  t.equal(badBody.status, 400, 'the Zod provider still validates the body')

  const typebox = await readEvents(await fetch(`${url}/typebox?from=7`))
  t.strictSame(typebox.events.map(({ event, data }) => ({ event, data })), [
    { event: 'tick', data: '{"n":7}' },
    { event: 'stream-error', data: '{"message":"Internal Server Error"}' }
  ])
  t.equal((await fetch(`${url}/typebox?from=x`)).status, 400, 'the TypeBox provider still validates the querystring')
  t.match(entries.filter((entry) => entry.err?.code === 'FST_SSE_INVALID_EVENT'), [
    { event: 'message', errors: [{ path: '/delta' }] },
    { event: 'tick', errors: [{ path: '/n' }] }
  ])
})

test('typebox 1.x schemas compile without the plugin registered first (as a hub does), in a fresh process', async (t) => {
  // A fresh process: nothing has loaded typebox/compile yet, so the synchronous path is the one taken.
  const program = [
    "const { compileEventSchemas } = require('./lib/schemas.ts')",
    "const { Type } = require('@fastify/type-provider-typebox')",
    "const tick = compileEventSchemas({ tick: Type.Object({ n: Type.Number() }) }, 'hub').get('tick')",
    'console.log(JSON.stringify([tick.check({ n: 1 }), tick.check({ n: "1" }), tick.errors({ n: "1" })]))'
  ].join('\n')
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--eval', program], { cwd: path.resolve(__dirname, '..'), env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${error.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
  t.strictSame(JSON.parse(output), [true, false, [{ path: '/n', message: 'must be number' }]])
})
