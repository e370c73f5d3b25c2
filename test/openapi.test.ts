// The streams in the OpenAPI document: @fastify/swagger with withSseStreams() documents
// every route's schema.sse as a text/event-stream response. The demo's document is a
// valid OpenAPI 3.2, 3.1 and 3.0 document; every event its running streams send (a
// stream-error included) matches the route's itemSchema; the rest of the document,
// and how routes validate and serialize, stay as they were.

import t, { type Test } from 'tap'
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import swagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger'
import { Type } from '@sinclair/typebox'
import Ajv2020 from 'ajv/dist/2020'
import type { EventSourceMessage } from 'eventsource-parser'
import Fastify, { type FastifyInstance } from 'fastify'
import { chromium } from 'playwright-core'
import * as v from 'valibot'
import * as z from 'zod'
import fastifyTypedSse, { withSseStreams } from '../index.js'
import { createHub, HubReset } from '../lib/hub/index.js'
import { startDemo } from './helpers/demo.js'
import { EventStreamReader, takeEvents } from './helpers/events.js'
import { useFreshConnections } from './helpers/fetch.js'
import { requireProgram } from './helpers/programs.js'

type Json = Record<string, any>

const EVENT_STREAM = 'text/event-stream'

/** The events each demo route declares in schema.sse (example/app.ts). */
const DEMO_STREAMS: Record<string, { method: string, events: string[] }> = {
  '/events': { method: 'get', events: ['hello', 'time'] },
  '/ticker': { method: 'get', events: ['tick', 'alarm'] },
  '/chat': { method: 'post', events: ['message'] },
  '/log': { method: 'get', events: ['line'] },
  '/counter': { method: 'get', events: ['count'] }
}

async function fetchDocument (url: string): Promise<Json> {
  const response = await fetch(`${url}/docs/json`)
  if (response.status !== 200) throw new Error(`GET /docs/json answered ${response.status}: ${await response.text()}`)
  return response.json() as Promise<Json>
}

async function validateDocument (t: Test, document: Json, version: string): Promise<void> {
  const { Validator } = await import('@seriousme/openapi-schema-validator') // ESM only
  const validator = new Validator()
  const result = await validator.validate(document)
  t.same(result.errors, undefined, `no errors as OpenAPI ${version}`)
  t.equal(result.valid, true, `valid as OpenAPI ${version}`)
  t.equal(validator.version, version, `read as OpenAPI ${version}`)
}

/** The media type of a route's documented stream. */
function streamMedia (document: Json, path: string, method = 'get'): Json {
  const media = document.paths?.[path]?.[method]?.responses?.['200']?.content?.[EVENT_STREAM]
  if (media === undefined) throw new Error(`${method.toUpperCase()} ${path} documents no ${EVENT_STREAM} response`)
  return media
}

/** The names of the event objects of a stream's schema, in order. */
function eventNames (eventSchema: Json): string[] {
  return (eventSchema.oneOf as Json[]).map(branch => {
    const event = branch.properties.event
    return event.const ?? event.enum[0]
  })
}

/** The event as OpenAPI models a parsed SSE event: fields that were present only. */
function asEventObject (message: EventSourceMessage): Json {
  const event: Json = { data: message.data }
  if (message.event !== undefined) event.event = message.event
  if (message.id !== undefined) event.id = message.id
  return event
}

/**
 * A stream's itemSchema as a check of one event, with a JSON Schema 2020-12 validator: the
 * event object, then its JSON `data` against the `contentSchema` (which a validator only
 * annotates). Returns why the event does not match, or undefined.
 */
function eventCheck (itemSchema: Json): (event: Json) => string | undefined {
  const ajv = new Ajv2020({ allErrors: true })
  const validateItem = ajv.compile(itemSchema)
  const dataChecks = new Map<string, ReturnType<typeof ajv.compile>>()
  for (const branch of itemSchema.oneOf as Json[]) {
    const data = branch.properties.data
    if (data.contentMediaType === 'application/json') dataChecks.set(eventNames({ oneOf: [branch] })[0] as string, ajv.compile(data.contentSchema))
  }
  return (event) => {
    if (!validateItem(event)) return `does not match itemSchema: ${ajv.errorsText(validateItem.errors)}`
    const validateData = dataChecks.get(event.event ?? 'message')
    if (validateData === undefined) return undefined
    let data: unknown
    try {
      data = JSON.parse(event.data)
    } catch {
      return 'has data that is not JSON'
    }
    return validateData(data) ? undefined : `has data that does not match its contentSchema: ${ajv.errorsText(validateData.errors)}`
  }
}

function checkEvents (t: Test, itemSchema: Json, messages: EventSourceMessage[], what: string): void {
  const check = eventCheck(itemSchema)
  let matched = 0
  for (const message of messages) {
    const event = asEventObject(message)
    const problem = check(event)
    if (problem === undefined) matched++
    else t.fail(`${what}: ${JSON.stringify(event)} ${problem}`)
  }
  t.equal(matched, messages.length, `${what}: all ${messages.length} events match the route's itemSchema`)
}

t.test('the demo serves its API document at /docs/json and Swagger UI at /docs', async (t) => {
  const { url } = await startDemo(t)
  const ui = await fetch(`${url}/docs`)
  t.equal(ui.status, 200)
  t.match(ui.headers.get('content-type'), /^text\/html/)
  t.match(await ui.text(), /swagger-ui/)
  const document = await fetchDocument(url)
  t.equal(document.openapi, '3.2.0')
  for (const [path, { method }] of Object.entries(DEMO_STREAMS)) t.ok(streamMedia(document, path, method), `${path} is documented`)
})

t.test('Swagger UI shows the events of a stream', async (t) => {
  const chromiumPath = requireProgram(t, 'chromium', 'apt-get install -y chromium')
  if (chromiumPath === undefined) return
  const { url } = await startDemo(t)
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 1200 } })
  await page.goto(`${url}/docs`)
  const ticker = page.locator('#operations-default-get_ticker')
  await ticker.waitFor({ timeout: 20_000 })
  await ticker.locator('.opblock-summary').click()
  const example = ticker.locator('.responses-wrapper .example')
  await example.first().waitFor({ timeout: 20_000 })
  const text = await example.first().innerText()
  // One example object per event, its data generated from the event's contentSchema.
  t.match(text, /"event": "tick",\s*"data": "\{\\"seq\\":1,\\"price\\":0\}"/, 'the tick event, its data as JSON text')
  t.match(text, /"event": "alarm"/, 'the alarm event')
  t.match(text, /"event": "stream-error",\s*"data": "\{\\"message\\":\\"string\\"\}"/, 'the failure event')
  const screenshot = join(__dirname, '..', 'test-output', 'docs-page.png')
  mkdirSync(join(screenshot, '..'), { recursive: true })
  await page.screenshot({ path: screenshot })
  t.ok(statSync(screenshot).size > 10_000, `screenshot saved to ${join('test-output', 'docs-page.png')}`)
})

for (const [openapi, version] of [['3.2.0', '3.2'], ['3.1.0', '3.1'], ['3.0.3', '3.0']] as const) {
  t.test(`the demo's document is valid OpenAPI ${version}, with every stream's events in it`, async (t) => {
    const { url } = await startDemo(t, { openapi })
    const document = await fetchDocument(url)
    await validateDocument(t, document, version)
    for (const [path, { method, events }] of Object.entries(DEMO_STREAMS)) {
      const media = streamMedia(document, path, method)
      if (version === '3.2') {
        t.same(eventNames(media.itemSchema), [...events, 'stream-error', 'end'], `${path}: itemSchema has one object per event`)
        t.same(media.schema, { type: 'array', items: media.itemSchema }, `${path}: schema is the stream as an array of its events`)
      } else {
        t.notOk('itemSchema' in media, `${path}: no itemSchema before 3.2`)
        t.same(eventNames(media.schema), [...events, 'stream-error', 'end'], `${path}: schema has one object per event`)
      }
    }
    // Every stream in the document (the demo's routes above and any other) ends with the failure event.
    for (const [path, item] of Object.entries(document.paths as Json)) {
      for (const [method, operation] of Object.entries(item as Json)) {
        const media = operation.responses?.['200']?.content?.[EVENT_STREAM]
        if (media === undefined) continue
        const events = eventNames(version === '3.2' ? media.itemSchema : media.schema)
        t.same(events.slice(-2), ['stream-error', 'end'], `${method.toUpperCase()} ${path} documents stream-error and end`)
      }
    }
  })
}

t.test('OpenAPI 3.2: the event object of each kind of data', async (t) => {
  const { url } = await startDemo(t)
  const document = await fetchDocument(url)
  const branch = (path: string, name: string, method = 'get'): Json =>
    (streamMedia(document, path, method).itemSchema.oneOf as Json[]).find(event => eventNames({ oneOf: [event] })[0] === name) as Json

  const line = branch('/log', 'line')
  t.same(line.properties.data, { type: 'string' }, 'a string schema is the data as it is: text')
  t.same(line.required, ['event', 'data'], 'a named event requires its event field')
  t.same(line.properties.id, { type: 'string' })
  t.same(line.properties.retry, { type: 'integer', minimum: 0 })

  const count = branch('/counter', 'count')
  t.equal(count.properties.data.type, 'string')
  t.equal(count.properties.data.contentMediaType, 'application/json', 'JSON data is a string of JSON')
  t.match(count.properties.data.contentSchema, { type: 'object', required: ['n', 'resumedAfter'], properties: { n: { type: 'integer', minimum: 1 } } }, 'carrying its schema')

  const message = branch('/chat', 'message', 'post')
  t.same(message.required, ['data'], 'a message needs no event field')
  t.same(message.properties.event, { type: 'string', enum: ['message'] })

  const failure = branch('/chat', 'stream-error', 'post')
  t.match(failure.properties.data, { type: 'string', contentMediaType: 'application/json', contentSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } })

  const end = branch('/counter', 'end')
  t.match(end.properties.data, { type: 'string', enum: ['[DONE]'] }, 'the end marker: its data is the text [DONE] (@fastify/swagger writes a const as an enum)')
  t.same(end.required, ['event', 'data'])
})

t.test("every event of the running demo's streams matches its route's itemSchema", async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-openapi-'))
  t.teardown(() => rmSync(directory, { recursive: true, force: true }))
  const logFile = join(directory, 'app.log')
  const { url } = await startDemo(t, { logFile })
  const document = await fetchDocument(url)
  const itemSchema = (path: string, method = 'get'): Json => streamMedia(document, path, method).itemSchema

  const clock = await takeEvents(await fetch(`${url}/events`), events => events.length >= 3)
  t.same(clock.map(event => event.event), ['hello', 'time', 'time'])
  checkEvents(t, itemSchema('/events'), clock, 'GET /events')

  const ticker = await takeEvents(await fetch(`${url}/ticker`), events => events.some(event => event.event === 'alarm'))
  t.ok(ticker.filter(event => event.event === 'tick').length > 1, 'ticks, then an alarm')
  checkEvents(t, itemSchema('/ticker'), ticker, 'GET /ticker')

  for (const line of ['GET /api/orders 200 12ms', 'POST /api/cart 201 30ms']) {
    const appended = await fetch(`${url}/log`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ line }) })
    t.equal(appended.status, 204)
  }
  const log = await takeEvents(await fetch(`${url}/log`), events => events.length >= 2)
  t.same(log.map(event => event.data), ['GET /api/orders 200 12ms', 'POST /api/cart 201 30ms'])
  checkEvents(t, itemSchema('/log'), log, 'GET /log')

  const counter = await new EventStreamReader(await fetch(`${url}/counter?until=3`)).readToEnd()
  t.same(counter.map(event => [event.event, event.id ?? '']), [['count', '1'], ['count', '2'], ['count', '3'], ['end', '']], 'three counts, then the end marker')
  checkEvents(t, itemSchema('/counter'), counter, 'GET /counter')

  const chat = await new EventStreamReader(await fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'What does the document say?' })
  })).readToEnd()
  // The `done` sentinel is the stream's own end marker, outside schema.sse: not JSON.
  t.equal(chat.at(-1)?.data, '[DONE]', 'the chat ends with the done sentinel')
  t.ok(chat.length > 2, 'tokens before it')
  checkEvents(t, itemSchema('/chat', 'post'), chat.slice(0, -1), 'POST /chat')

  // The log file gone: the log tail's source throws, and the stream ends with the plugin's failure event.
  rmSync(logFile)
  const failed = await new EventStreamReader(await fetch(`${url}/log`)).readToEnd()
  t.same(failed.map(event => [event.event, event.data]), [['stream-error', '{"message":"Internal Server Error"}']])
  checkEvents(t, itemSchema('/log'), failed, 'GET /log after a failure')
})

t.test('an event the route does not declare does not match the itemSchema', async (t) => {
  const { url } = await startDemo(t)
  const check = eventCheck(streamMedia(await fetchDocument(url), '/ticker').itemSchema)
  t.equal(check({ event: 'tick', data: '{"seq":1,"price":100}', id: '1' }), undefined, 'a tick matches')
  t.match(check({ event: 'tock', data: '{}' }), /does not match itemSchema/, 'an undeclared name does not')
  t.match(check({ data: '{}' }), /does not match itemSchema/, 'nor a message, on a route that declares none')
  t.match(check({ event: 'tick', data: { seq: 1 } }), /does not match itemSchema/, 'nor data that is not a string')
  t.match(check({ event: 'tick', data: '{}', retry: -1 }), /does not match itemSchema/, 'nor a negative retry')
  t.match(check({ event: 'tick', data: '{"seq":0,"price":100}' }), /contentSchema/, 'nor a payload that fails its schema')
  t.match(check({ event: 'tick', data: '[DONE]' }), /not JSON/, 'nor data that is not JSON')
})

/** An app with the plugin, @fastify/swagger with `transform`, a stream beside other responses, and a plain route. */
async function appWithRoutes (t: Test, transform: FastifyDynamicSwaggerOptions['transform'], openapi = '3.2.0'): Promise<{ app: FastifyInstance, url: string, routeSchema: Json }> {
  const app = Fastify()
  await app.register(fastifyTypedSse)
  await app.register(swagger, { openapi: { openapi }, transform })
  const Failure = Type.Object({ error: Type.String() })
  const routeSchema = {
    summary: 'The events of one account',
    querystring: Type.Object({ since: Type.Optional(Type.Integer({ minimum: 0 })) }),
    response: { 401: Failure, 404: { description: 'No such account', ...Failure } },
    sse: { update: Type.Object({ balance: Type.Number() }) }
  }
  app.get('/accounts/:id/events', { schema: routeSchema }, async (request, reply) => {
    if (request.headers.authorization !== 'Bearer good') {
      // `detail` is not in the 401 schema: serialization drops it.
      return reply.code(401).send({ error: 'Unauthorized', detail: 'hidden' } as { error: string })
    }
    return reply.sseStream([{ event: 'update', data: { balance: 10 } }, { event: 'update', data: { balance: 'ten' } as unknown as { balance: number } }])
  })
  app.get('/health', { schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } } }, async () => ({ ok: true }))
  t.teardown(() => app.close())
  useFreshConnections(t)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url, routeSchema }
}

t.test('other responses and routes without schema.sse are documented as they were', async (t) => {
  const plain = await appWithRoutes(t, undefined)
  const streams = await appWithRoutes(t, withSseStreams())
  const before = plain.app.swagger() as Json
  const after = streams.app.swagger() as Json
  await validateDocument(t, after, '3.2')

  const path = '/accounts/{id}/events'
  const { 200: stream, ...others } = after.paths[path].get.responses
  t.same(others, before.paths[path].get.responses, '401 and 404 as the route wrote them')
  t.same(Object.keys(before.paths[path].get.responses), ['401', '404'], 'without the transform, no 200 at all')
  t.same(eventNames(stream.content[EVENT_STREAM].itemSchema), ['update', 'stream-error', 'end'])
  t.same(Object.keys(stream.content), [EVENT_STREAM])
  const { responses: _after, ...operationAfter } = after.paths[path].get
  const { responses: _before, ...operationBefore } = before.paths[path].get
  t.same(operationAfter, operationBefore, 'parameters and summary as they were')
  t.same(after.paths['/health'], before.paths['/health'], 'a route without schema.sse is untouched')
})

t.test('the route validates and serializes as before: the document is built from a copy', async (t) => {
  const { app, url, routeSchema } = await appWithRoutes(t, withSseStreams())
  const snapshot = JSON.stringify(routeSchema)
  app.swagger()
  t.equal(JSON.stringify(routeSchema), snapshot, "the route's schema is not changed")
  t.notOk('200' in routeSchema.response, 'no 200 response schema for Fastify to compile')

  const refused = await fetch(`${url}/accounts/1/events`)
  t.equal(refused.status, 401)
  t.same(await refused.json(), { error: 'Unauthorized' }, "the 401 is serialized by the route's own schema")

  const stream = await new EventStreamReader(await fetch(`${url}/accounts/1/events`, { headers: { authorization: 'Bearer good' } })).readToEnd()
  t.same(stream.map(event => [event.event, event.data]), [
    ['update', '{"balance":10}'],
    ['stream-error', '{"message":"Internal Server Error"}']
  ], 'schema.sse still checks every event: the invalid one ends the stream')
  const itemSchema = streamMedia(app.swagger() as Json, '/accounts/{id}/events').itemSchema
  checkEvents(t, itemSchema, stream, 'GET /accounts/:id/events')
})

t.test("composes with the user's own transform", async (t) => {
  const app = Fastify()
  await app.register(fastifyTypedSse)
  await app.register(swagger, {
    openapi: { openapi: '3.1.0' },
    transform: withSseStreams(({ schema, url }) => ({ schema: { ...schema, tags: ['streams'] }, url: url.replace('/internal', '') }))
  })
  app.get('/internal/ticks', { schema: { sse: { tick: Type.Integer() } } }, async (_request, reply) => reply.sseStream([]))
  t.teardown(() => app.close())
  await app.ready()
  const document = app.swagger() as Json
  await validateDocument(t, document, '3.1')
  t.same(document.paths['/ticks'].get.tags, ['streams'], "the user's transform ran")
  t.same(eventNames(streamMedia(document, '/ticks').schema), ['tick', 'stream-error', 'end'], 'and the stream is documented')
  t.equal(streamMedia(document, '/ticks').schema.oneOf[0].properties.data.contentMediaType, 'application/json', 'an integer is sent as JSON')
})

t.test("a route's own config.swaggerTransform, wrapped, documents its stream", async (t) => {
  const app = Fastify()
  await app.register(fastifyTypedSse)
  await app.register(swagger, { openapi: { openapi: '3.2.0' } })
  const config = { swaggerTransform: withSseStreams(({ schema, url }) => ({ schema: { ...schema, summary: 'Ticks' }, url })) }
  app.get('/ticks', { config, schema: { sse: { tick: Type.Integer() } } }, async (_request, reply) => reply.sseStream([]))
  app.get('/unwrapped', { schema: { sse: { tick: Type.Integer() } } }, async (_request, reply) => reply.sseStream([]))
  t.teardown(() => app.close())
  await app.ready()
  const document = app.swagger() as Json
  await validateDocument(t, document, '3.2')
  t.equal(document.paths['/ticks'].get.summary, 'Ticks')
  t.same(eventNames(streamMedia(document, '/ticks').itemSchema), ['tick', 'stream-error', 'end'])
  t.same(document.paths['/unwrapped'].get.responses, { 200: { description: 'Default Response' } }, 'without the transform, no stream')
})

t.test('a 200 declared with content gets the stream beside it; one declared as a plain schema is refused', async (t) => {
  const app = Fastify()
  await app.register(fastifyTypedSse)
  await app.register(swagger, { openapi: { openapi: '3.2.0' }, transform: withSseStreams() })
  const Snapshot = Type.Object({ balance: Type.Number() })
  app.get('/both', {
    schema: {
      sse: { update: Snapshot },
      response: { 200: { description: 'A snapshot, or the updates', content: { 'application/json': { schema: Snapshot } } } }
    }
  }, async (_request, reply) => reply.sseStream([]))
  app.get('/own', {
    schema: {
      sse: { update: Snapshot },
      response: { 200: { description: 'Described by hand', content: { [EVENT_STREAM]: { schema: { type: 'string' } } } } }
    }
  }, async (_request, reply) => reply.sseStream([]))
  t.teardown(() => app.close())
  await app.ready()
  const document = app.swagger() as Json
  await validateDocument(t, document, '3.2')
  t.same(document.paths['/own'].get.responses['200'], { description: 'Described by hand', content: { [EVENT_STREAM]: { schema: { type: 'string' } } } }, 'a text/event-stream described by the route is kept')
  const ok = document.paths['/both'].get.responses['200']
  t.equal(ok.description, 'A snapshot, or the updates', 'its description kept')
  t.same(Object.keys(ok.content), ['application/json', EVENT_STREAM], 'the route\'s media type first, the stream beside it')
  t.same(ok.content['application/json'].schema, { type: 'object', required: ['balance'], properties: { balance: { type: 'number' } } })
  t.same(eventNames(ok.content[EVENT_STREAM].itemSchema), ['update', 'stream-error', 'end'])

  const refusing = Fastify()
  await refusing.register(fastifyTypedSse)
  await refusing.register(swagger, { openapi: { openapi: '3.2.0' }, transform: withSseStreams() })
  refusing.get('/plain', { schema: { sse: { update: Snapshot }, response: { 200: Snapshot } } }, async (_request, reply) => reply.sseStream([]))
  t.teardown(() => refusing.close())
  await refusing.ready()
  t.throws(() => refusing.swagger(), { code: 'FST_SSE_INVALID_SCHEMA', message: /GET \/plain.*200 response is declared as a plain schema/ })
})

t.test('typebox 1.x, Zod and Valibot schemas: JSON Schema where the library has one, else untyped data', async (t) => {
  const { Type: Type1 } = await import('typebox') // ESM only
  const app = Fastify()
  await app.register(fastifyTypedSse)
  await app.register(swagger, { openapi: { openapi: '3.2.0' }, transform: withSseStreams() })
  const ZodQuote = z.object({ symbol: z.string(), price: z.number().nullable() })
  app.get('/mixed', {
    schema: {
      sse: {
        tb1: Type1.Object({ n: Type1.Integer() }),
        quote: ZodQuote,
        note: z.string(),
        valibot: v.object({ ok: v.boolean() })
      }
    }
  }, async (_request, reply) => reply.sseStream([
    { event: 'tb1', data: { n: 1 } },
    { event: 'quote', data: { symbol: 'ACME', price: null } },
    { event: 'note', data: 'two\nlines' },
    { event: 'valibot', data: { ok: true } }
  ]))
  t.teardown(() => app.close())
  useFreshConnections(t)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const document = app.swagger() as Json
  await validateDocument(t, document, '3.2')
  const itemSchema = streamMedia(document, '/mixed').itemSchema
  const data = Object.fromEntries((itemSchema.oneOf as Json[]).map(branch => [eventNames({ oneOf: [branch] })[0], branch.properties.data]))
  t.same(data.tb1.contentSchema, { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }, 'typebox 1.x: its JSON Schema, without its own keys')
  const { $schema: _, ...zodJson } = z.toJSONSchema(ZodQuote)
  t.same(data.quote.contentSchema, zodJson, "Zod: its JSON Schema (z.toJSONSchema's, through ~standard.jsonSchema)")
  t.same(data.note, { type: 'string' }, 'a Zod string is text')
  t.equal(data.valibot.type, 'string', 'Valibot (no JSON Schema of its own): untyped data')
  t.notOk('contentSchema' in data.valibot)
  t.match(data.valibot.description, /valibot offers no JSON Schema/)

  const events = await new EventStreamReader(await fetch(`${url}/mixed`)).readToEnd()
  t.same(events.map(event => event.event), ['tb1', 'quote', 'note', 'valibot', 'end'])
  checkEvents(t, itemSchema, events, 'GET /mixed')
})

t.test("a hub route documents the hub's reset, and its streams match the document", async (t) => {
  const hub = createHub({ events: { message: Type.Object({ from: Type.String(), text: Type.String() }) } })
  const app = Fastify()
  await app.register(fastifyTypedSse, { heartbeatInterval: 0 })
  await app.register(hub.plugin)
  await app.register(swagger, { openapi: { openapi: '3.2.0' }, transform: withSseStreams() })
  app.get<{ Params: { room: string } }>('/rooms/:room/events', { schema: { sse: hub.events } }, async (request, reply) =>
    reply.sseStream(hub.subscribe(`room:${request.params.room}`, { from: 'earliest' })))
  t.teardown(() => app.close())
  useFreshConnections(t)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const document = app.swagger() as Json
  await validateDocument(t, document, '3.2')
  const itemSchema = streamMedia(document, '/rooms/{room}/events').itemSchema
  t.same(eventNames(itemSchema), ['message', 'reset', 'stream-error', 'end'], 'reset comes with hub.events')
  const reset = (itemSchema.oneOf as Json[])[1] as Json
  // HubReset, with its consts written as one-value enums (@fastify/swagger's convertConstToEnum).
  const constToEnum = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema), (_key, value) => {
    if (value === null || typeof value !== 'object' || !('const' in value)) return value
    const { const: only, ...rest } = value
    return { ...rest, enum: [only] }
  })
  t.same(reset.properties.data.contentSchema, constToEnum(HubReset), 'its data is HubReset')

  await hub.publish('room:1', { data: { from: 'ada', text: 'hello' } })
  await hub.publish('room:1', { data: { from: 'bob', text: 'hi' } })
  const replay = await takeEvents(await fetch(`${url}/rooms/1/events`), events => events.length >= 2)
  t.same(replay.map(event => JSON.parse(event.data).from), ['ada', 'bob'])
  checkEvents(t, itemSchema, replay, 'a replay')
  // A position this topic never had: the hub says so with reset.
  const gap = await takeEvents(await fetch(`${url}/rooms/1/events`, { headers: { 'last-event-id': '99999999999999-0' } }), events => events.length >= 1)
  t.equal(gap[0]?.event, 'reset')
  checkEvents(t, itemSchema, gap.slice(0, 1), 'a reset')
})

t.test('Swagger 2.0 documents are left as they are', async (t) => {
  const app = Fastify()
  await app.register(fastifyTypedSse)
  await app.register(swagger, { swagger: { info: { title: 'old', version: '1' } }, transform: withSseStreams() })
  app.get('/ticks', { schema: { sse: { tick: Type.Integer() } } }, async (_request, reply) => reply.sseStream([]))
  t.teardown(() => app.close())
  await app.ready()
  const document = app.swagger() as Json
  t.equal(document.swagger, '2.0')
  t.same(document.paths['/ticks'].get.responses, { 200: { description: 'Default Response' } })
})

t.test('HEAD routes, when @fastify/swagger exposes them, document no stream', async (t) => {
  const app = Fastify()
  await app.register(fastifyTypedSse)
  await app.register(swagger, { openapi: { openapi: '3.2.0' }, exposeHeadRoutes: true, transform: withSseStreams() })
  app.get('/ticks', { schema: { sse: { tick: Type.Integer() } } }, async (_request, reply) => reply.sseStream([]))
  t.teardown(() => app.close())
  await app.ready()
  const document = app.swagger() as Json
  await validateDocument(t, document, '3.2')
  t.same(eventNames(streamMedia(document, '/ticks').itemSchema), ['tick', 'stream-error', 'end'], 'GET documents the stream')
  t.same(document.paths['/ticks'].head.responses, { 200: { description: 'Default Response' } }, 'HEAD gets the headers only')
})

t.test('withSseStreams refuses a transform that is not a function', async (t) => {
  t.throws(() => withSseStreams('mine' as never), { name: 'TypeError', message: /needs a function.*got string/ })
})
