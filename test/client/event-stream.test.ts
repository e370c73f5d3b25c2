// eventStream in Node against the real plugin over real sockets: decoding and
// validation by schema (TypeBox 0.34, typebox 1.x, Zod 4, Valibot 1), reconnects
// that resume with no gap and no duplicate, position items, reset, the POST chat
// and [DONE], every way a stream fails, teardown on abort and break, retry and backoff.

import t, { type Test } from 'tap'
import { Value } from '@sinclair/typebox/value'
import { Type as Type1 } from '@fastify/type-provider-typebox' // typebox 1.x
import * as v from 'valibot'
import { z } from 'zod'
import { eventStream, hubReset, SseHttpError, SseStreamError, SseValidationError, type SseClientEvent } from '../../lib/client/index.js'
import Fastify from 'fastify'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitFor } from '../helpers/wait.js'
import { Delta, Reset, startClientTestServer, tickEvents } from './helpers/app.js'

/** Reads the stream to its end (or until `count` items), failing the test past the deadline. */
async function collect<Item> (stream: AsyncIterable<Item>, count = Infinity, timeoutMs = 10_000): Promise<Item[]> {
  const items: Item[] = []
  const deadline = setTimeout(() => { throw new Error(`no end after ${timeoutMs} ms; items so far: ${JSON.stringify(items)}`) }, timeoutMs)
  try {
    for await (const item of stream) {
      items.push(item)
      if (items.length >= count) break
    }
  } finally {
    clearTimeout(deadline)
  }
  return items
}

/** The error `promise` rejects with (fails the test when it resolves). */
async function failure (promise: Promise<unknown>): Promise<any> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

t.test('every event is decoded by its schema (text for a string schema, JSON otherwise), checked, and typed', async (t) => {
  const server = await startClientTestServer(t)
  const stream = eventStream(`${server.url}/ticks?until=6&every=1`, { events: tickEvents, validate: Value.Check })
  const items = await collect(stream)
  t.same(items, [
    { event: 'tick', data: { n: 1 }, id: '1' },
    { event: 'tick', data: { n: 2 }, id: '2' },
    { event: 'tick', data: { n: 3 }, id: '3' },
    { event: 'note', data: '42', id: undefined },
    { event: 'tick', data: { n: 4 }, id: '4' },
    { event: 'tick', data: { n: 5 }, id: '5' },
    { event: 'tick', data: { n: 6 }, id: '6' },
    { event: 'note', data: '84', id: undefined }
  ], 'a note is the text "42", not the number 42')
  t.equal(stream.lastEventId, '6')
  t.same(server.requestsTo('/ticks').map(r => r.lastEventId), [undefined], 'the end marker ended the loop: no second request')
  t.same(server.sources.ticks, { started: 1, finished: 1 }, 'the source ran once')
})

t.test('Zod 4, Valibot 1 and typebox 1.x schemas decode and check like TypeBox 0.34', async (t) => {
  const server = await startClientTestServer(t)
  const schemas = {
    zod: {
      text: z.string(),
      choice: z.enum(['a', 'b']),
      point: z.object({ x: z.number(), y: z.number() }),
      count: z.number().int(),
      message: z.string()
    },
    valibot: {
      text: v.string(),
      choice: v.picklist(['a', 'b']),
      point: v.object({ x: v.number(), y: v.number() }),
      count: v.number(),
      message: v.string()
    },
    typebox1: {
      text: Type1.String(),
      choice: Type1.Union([Type1.Literal('a'), Type1.Literal('b')]),
      point: Type1.Object({ x: Type1.Number(), y: Type1.Number() }),
      count: Type1.Integer(),
      message: Type1.String()
    }
  }
  const expected = [
    { event: 'text', data: '42', id: undefined },
    { event: 'choice', data: 'b', id: undefined },
    { event: 'point', data: { x: 1, y: 2 }, id: undefined },
    { event: 'count', data: 7, id: undefined },
    { event: 'message', data: 'a message\nof two lines', id: undefined }
  ]
  for (const [kind, events] of Object.entries(schemas)) {
    const validate = kind === 'typebox1' ? (await import('typebox/value')).Value.Check : true // typebox is ESM only
    // `true` is for the Standard Schemas only, a pairing the compiler cannot follow through this loop.
    t.same(await collect(eventStream(`${server.url}/values`, { events, validate: validate as Exclude<typeof validate, true>, reconnect: false })), expected, kind)
    t.same(await collect(eventStream(`${server.url}/values`, { events, validate: false, reconnect: false })), expected, `${kind} without validation`)
  }
  const wrong = { ...schemas.zod, count: z.boolean() }
  const error = await failure(collect(eventStream(`${server.url}/values`, { events: wrong, reconnect: false })))
  t.type(error, SseValidationError)
  t.match(error, { event: 'count', data: '7', message: /does not match its schema/ })
  t.ok(error.issues.length >= 1, 'with the schema\'s issues')
})

t.test('without events, data is the text as it arrived', async (t) => {
  const server = await startClientTestServer(t)
  const items: SseClientEvent<string, string>[] = await collect(eventStream(`${server.url}/values`, { reconnect: false }))
  t.same(items.map(item => item.data), ['42', 'b', '{"x":1,"y":2}', '7', 'a message\nof two lines'])
})

t.test('the server ends every stream; the client resumes with Last-Event-ID, no event lost or repeated', async (t) => {
  const server = await startClientTestServer(t)
  const stream = eventStream(`${server.url}/ticks?every=15`, { events: tickEvents, validate: Value.Check, reconnect: { delay: 50 } })
  const ticks: number[] = []
  let cuts = 0
  for await (const item of stream) {
    if (item.event !== 'tick') continue
    ticks.push(item.data.n)
    if (item.data.n % 7 === 0 && cuts < 3) {
      cuts++
      t.equal(server.cut(), 1, 'one stream was open, and is cut')
    }
    if (ticks.length === 30) break
  }
  t.same(ticks, Array.from({ length: 30 }, (_, i) => i + 1), 'every tick once, in order')
  const resumes = server.requestsTo('/ticks').map(r => r.lastEventId)
  t.same(resumes, [undefined, '7', '14', '21'], 'each reconnect sent the last id seen')
})

t.test('a broken connection (socket destroyed) is retried from the last id', async (t) => {
  const server = await startClientTestServer(t)
  const items = await collect(eventStream(`${server.url}/breaks`, { events: tickEvents, validate: Value.Check, reconnect: { delay: 20 } }), 9)
  t.same(items.map(item => item.id), ['1', '2', '3', '4', '5', '6', '7', '8', '9'])
  t.same(server.requestsTo('/breaks').map(r => r.lastEventId), [undefined, '3', '6'])
})

t.test('a position item moves lastEventId without yielding anything', async (t) => {
  const server = await startClientTestServer(t)
  const stream = eventStream(`${server.url}/position`, { events: tickEvents, validate: Value.Check, reconnect: { delay: 20 } })
  const [first] = await collect(stream, 1)
  t.same(first, { event: 'tick', data: { n: 42 }, id: '42' }, 'the first item comes from the second connection')
  t.same(server.requestsTo('/position').map(r => r.lastEventId), [undefined, '41'], 'which resumed after the position')
  t.equal(stream.lastEventId, '42')
})

t.test('lastEventId starts a stream where a saved one left off; ids beyond ASCII go as UTF-8', async (t) => {
  const server = await startClientTestServer(t)
  const stream = eventStream(`${server.url}/echo-id`, { events: tickEvents, validate: Value.Check, lastEventId: 'café…', reconnect: false })
  t.equal(stream.lastEventId, 'café…')
  const [item] = await collect(stream)
  t.same(item, { event: 'note', data: 'café…', id: '€ and 👋' }, 'the server read the id as it was')
  t.equal(stream.lastEventId, '€ and 👋')
})

t.test('reset arrives as an item and moves lastEventId, declared with TypeBox or with the client\'s hubReset', async (t) => {
  const server = await startClientTestServer(t)
  for (const reset of [Reset, hubReset]) {
    const stream = eventStream(`${server.url}/reset`, { events: { ...tickEvents, reset }, validate: Value.Check, reconnect: false })
    const seen: string[] = []
    for await (const item of stream) {
      if (item.event === 'reset') {
        const reason: 'unknown-id' | 'history-lost' = item.data.reason
        seen.push(`reset:${reason}`)
        t.equal(stream.lastEventId, '9-0', 'the reset\'s id is the new position')
      } else if (item.event === 'tick') {
        seen.push(`tick:${item.data.n}`)
      }
    }
    t.same(seen, ['tick:1', 'reset:history-lost', 'tick:10'])
  }
  const undeclared = await failure(collect(eventStream(`${server.url}/reset`, { events: tickEvents, validate: Value.Check, reconnect: false })))
  t.match(undeclared, { name: 'SseValidationError', event: 'reset' }, 'a reset the page does not declare is an unknown event')
  const wrong = await failure(collect(eventStream(`${server.url}/wrong?kind=reset`, { events: { reset: hubReset }, reconnect: false })))
  t.match(wrong, { name: 'SseValidationError', event: 'reset', issues: [{ message: /expected \{ reason/ }] })
})

t.test('POST chat: ends at [DONE], is not re-posted after a drop unless asked', async (t) => {
  const server = await startClientTestServer(t)
  let answer = ''
  for await (const { data } of eventStream(`${server.url}/chat`, { method: 'POST', body: { prompt: 'hi' }, events: { message: Delta }, validate: Value.Check, done: '[DONE]' })) {
    answer += data.delta
  }
  t.equal(answer, 'hi0 hi1 hi2 hi3 hi4 ')

  // The connection breaks before [DONE]: the loop fails, and the prompt is not sent again.
  const dropped: string[] = []
  const error = await failure((async () => {
    for await (const { data } of eventStream(`${server.url}/chat`, { method: 'post', body: { prompt: 'once', tokens: 50 }, events: { message: Delta }, validate: Value.Check, done: '[DONE]' })) {
      dropped.push(data.delta)
      if (dropped.length === 2) t.equal(server.sever(), 1, 'the chat\'s connection is broken')
    }
  })())
  t.type(error, TypeError, 'fetch\'s network error')
  t.same(dropped, ['once0 ', 'once1 '])
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(server.requestsTo('/chat').length, 2, 'no request was repeated')

  // With reconnect: true, it is re-posted (with the last id, here none).
  const again: string[] = []
  for await (const { data } of eventStream(`${server.url}/chat`, { method: 'POST', body: { prompt: 'twice', tokens: 3 }, events: { message: Delta }, validate: Value.Check, done: '[DONE]', reconnect: { delay: 20 } })) {
    again.push(data.delta)
    if (again.length === 1) server.sever()
  }
  t.same(again, ['twice0 ', 'twice0 ', 'twice1 ', 'twice2 '], 'the second POST streamed the reply again, to [DONE]')
  t.same(server.requestsTo('/chat').map(r => r.method), ['POST', 'POST', 'POST', 'POST'])
  t.same(server.sources.chat, { started: 4, finished: 4 })
})

t.test('stream-error throws SseStreamError with the message the server exposed, and is not retried', async (t) => {
  const server = await startClientTestServer(t)
  const seen: unknown[] = []
  const error = await failure((async () => {
    for await (const item of eventStream(`${server.url}/fails?expose=1`, { events: tickEvents, validate: Value.Check })) seen.push(item)
  })())
  t.type(error, SseStreamError)
  t.equal(error.message, 'the model is overloaded')
  t.same(seen, [{ event: 'tick', data: { n: 1 }, id: '1' }], 'the events before it were delivered')
  const generic = await failure(collect(eventStream(`${server.url}/fails`, { events: tickEvents, validate: Value.Check })))
  t.equal(generic.message, 'Internal Server Error', 'an error not marked safe to show stays generic')
  t.equal(server.requestsTo('/fails').length, 2, 'one request each')
})

t.test('a 401 throws SseHttpError with status and body, without retrying', async (t) => {
  const server = await startClientTestServer(t)
  const error = await failure(collect(eventStream(`${server.url}/status/401`, { events: tickEvents, validate: Value.Check })))
  t.type(error, SseHttpError)
  t.equal(error.status, 401)
  t.same(JSON.parse(error.body), { error: 'status 401' })
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(server.requestsTo('/status/401').length, 1, 'one request')
})

t.test('a 503 is retried as far as reconnect.retries allows, then thrown', async (t) => {
  const server = await startClientTestServer(t)
  const error = await failure(collect(eventStream(`${server.url}/status/503`, { reconnect: { retries: 2, delay: 10 } })))
  t.type(error, SseHttpError)
  t.equal(error.status, 503)
  t.equal(server.requestsTo('/status/503').length, 3, 'the first request and two retries')
})

t.test('204 ends the stream before it starts; a response that is not an event stream fails', async (t) => {
  const server = await startClientTestServer(t)
  t.same(await collect(eventStream(`${server.url}/status/204`)), [])
  const error = await failure(collect(eventStream(`${server.url}/plain`)))
  t.type(error, SseHttpError)
  t.match(error.message, /expected text\/event-stream, got text\/plain/)
  t.equal(server.requestsTo('/plain').length, 1, 'and is not retried')
})

t.test('aborting the signal cancels the request at once and the server\'s source is finalized', async (t) => {
  const server = await startClientTestServer(t)
  const controller = new AbortController()
  const seen: number[] = []
  const error = await failure((async () => {
    for await (const item of eventStream(`${server.url}/forever`, { events: tickEvents, validate: Value.Check, signal: controller.signal })) {
      if (item.event === 'tick') seen.push(item.data.n)
      if (seen.length === 3) controller.abort()
    }
  })())
  t.equal(error.name, 'AbortError', 'the loop throws the signal\'s reason')
  t.same(seen, [1, 2, 3], 'nothing after the abort')
  await waitFor(() => server.sources.forever?.finished === 1, 5000, 'the source\'s finally')
  t.same(server.sources.forever, { started: 1, finished: 1 })
  t.equal(server.requestsTo('/forever').length, 1, 'no reconnect after an abort')

  const aborted = AbortSignal.abort()
  t.equal((await failure(collect(eventStream(`${server.url}/forever`, { signal: aborted })))).name, 'AbortError', 'an aborted signal never starts')
  t.equal(server.requestsTo('/forever').length, 1)
})

t.test('break ends the request and the server\'s source is finalized', async (t) => {
  const server = await startClientTestServer(t)
  const items = await collect(eventStream(`${server.url}/forever`, { events: tickEvents, validate: Value.Check }), 2)
  t.equal(items.length, 2)
  await waitFor(() => server.sources.forever?.finished === 1, 5000, 'the source\'s finally')
  t.same(server.sources.forever, { started: 1, finished: 1 })
})

t.test('a wrong payload, an unknown event or data that is not JSON throws SseValidationError', async (t) => {
  const server = await startClientTestServer(t)
  const seen: unknown[] = []
  const payload = await failure((async () => {
    for await (const item of eventStream(`${server.url}/wrong`, { events: tickEvents, validate: Value.Check })) seen.push(item)
  })())
  t.type(payload, SseValidationError)
  t.match(payload, { event: 'tick', data: '{"n":"two"}' })
  t.same(seen, [{ event: 'tick', data: { n: 1 }, id: undefined }])
  const name = await failure(collect(eventStream(`${server.url}/wrong?kind=name`, { events: tickEvents, validate: Value.Check })))
  t.match(name, { event: 'tock', message: 'unknown event "tock"; events declares tick, note' })
  const json = await failure(collect(eventStream(`${server.url}/wrong?kind=json`, { events: tickEvents, validate: false })))
  t.match(json, { event: 'tick', message: 'the data of event "tick" is not JSON' })
  // Without validation an unknown event is skipped (a newer server may send events an older page does not know).
  t.same(await collect(eventStream(`${server.url}/wrong?kind=name`, { events: tickEvents, validate: false, reconnect: false })), [{ event: 'tick', data: { n: 1 }, id: undefined }])
  t.equal(server.requestsTo('/wrong').length, 4, 'none of the failures was retried')
})

t.test('the server\'s retry is the wait before reconnecting', async (t) => {
  const server = await startClientTestServer(t)
  for (const retry of [50, 600]) {
    const started = server.requests.length
    await collect(eventStream(`${server.url}/retry?retry=${retry}`, { reconnect: { delay: 5000 } }), 3)
    const times = server.requests.slice(started).map(r => r.at)
    const gaps = times.slice(1).map((at, i) => at - times[i]!)
    t.equal(gaps.length, 2)
    for (const gap of gaps) {
      t.ok(gap >= retry, `waited ${Math.round(gap)} ms, at least the server's ${retry} ms`)
      t.ok(gap < retry * 1.25 + 400, `and not much more (${Math.round(gap)} ms)`)
    }
  }
})

t.test('failed attempts back off exponentially, capped at maxDelay', async (t) => {
  const server = await startClientTestServer(t)
  const error = await failure(collect(eventStream(`${server.url}/status/500`, { reconnect: { retries: 6, delay: 40, maxDelay: 300 } }), Infinity, 20_000))
  t.equal(error.status, 500)
  const times = server.requestsTo('/status/500').map(r => r.at)
  t.equal(times.length, 7)
  const gaps = times.slice(1).map((at, i) => at - times[i]!)
  // Expected waits: 40·2^n·(1..1.25), capped at 300: 40-50, 80-100, 160-200, then 300 three times.
  t.ok(gaps[0]! >= 40 && gaps[2]! >= 160, `doubling: ${gaps.map(Math.round).join(', ')} ms`)
  t.ok(gaps[1]! > gaps[0]! && gaps[2]! > gaps[1]!, 'growing')
  for (const gap of gaps.slice(3)) t.ok(gap >= 300 && gap < 300 + 400, `capped: ${Math.round(gap)} ms`)
})

t.test('bad options are refused with a clear TypeError', async (t) => {
  // A compile error in TypeScript; JavaScript callers get the TypeError.
  // @ts-expect-error validate is required for TypeBox schemas
  t.throws(() => eventStream('/x', { events: tickEvents }), { name: 'TypeError', message: /checking a TypeBox or JSON schema needs validate: Value.Check/ })
  t.throws(() => eventStream('/x', { events: tickEvents, validate: 'yes' as any }), { name: 'TypeError', message: /validate must be a boolean or a function/ })
  t.throws(() => eventStream('/x', { reconnect: { retries: -1 } }), { name: 'TypeError', message: /reconnect must be/ })
  t.throws(() => eventStream('/x', { events: { tick: 'number' } as any }), { name: 'TypeError', message: /event "tick": not a schema/ })
  t.throws(() => eventStream(42 as any), { name: 'TypeError', message: /needs a URL/ })
  t.throws(() => eventStream('/x', { heartbeatTimeout: -1 }), { name: 'TypeError', message: /heartbeatTimeout must be/ })
  t.throws(() => eventStream('/x', { heartbeatTimeout: 'soon' as any }), { name: 'TypeError', message: /heartbeatTimeout must be/ })
  const stream = eventStream('http://127.0.0.1:9/never', { reconnect: false })
  stream[Symbol.asyncIterator]()
  t.throws(() => stream[Symbol.asyncIterator](), { message: /iterated once/ })
})

t.test('a finished source ends the loop after exactly one pass; the end event is not an item', async (t) => {
  const server = await startClientTestServer(t)
  const untyped = await collect(eventStream(`${server.url}/ticks?until=2&every=1`, { reconnect: { delay: 20 } }))
  t.same(untyped.map(item => item.event), ['tick', 'tick'], 'without events too: no end item')
  const typed = await collect(eventStream(`${server.url}/ticks?until=2&every=1`, { events: tickEvents, validate: Value.Check, reconnect: { delay: 20 } }))
  t.same(typed.map(item => item.id), ['1', '2'])
  await new Promise(resolve => setTimeout(resolve, 300)) // a reconnect, had there been one, would come in 20 ms
  t.equal(server.requestsTo('/ticks').length, 2, 'one request per loop: no reconnect')
  t.same(server.sources.ticks, { started: 2, finished: 2 }, 'the handler ran once per loop')
})

t.test('an end marker without its blank line, or with other data, is a cut: the client reconnects', async (t) => {
  const app = Fastify()
  const lastEventIds: Array<string | undefined> = []
  app.get<{ Querystring: { tail: string } }>('/', async (request, reply) => {
    const id = request.headers['last-event-id'] as string | undefined
    lastEventIds.push(id)
    reply.hijack()
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream' })
    // The first response ends with a broken marker; the one after the reconnect with a whole one.
    reply.raw.end(id === undefined ? `id: 1\ndata: one\n\n${request.query.tail}` : 'id: 2\ndata: two\n\nevent: end\ndata: [DONE]\n\n')
  })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  for (const tail of ['event: end\ndata: [DONE]\n', 'event: end\ndata: [DONE]', 'event: end\ndata: done\n\n']) {
    lastEventIds.length = 0
    const items = await collect(eventStream(`${url}/?tail=${encodeURIComponent(tail)}`, { reconnect: { delay: 10 }, validate: false, events: { message: Type1.String(), end: Type1.String() } }))
    t.same(items.map(item => item.data), tail.endsWith('\n\n') ? ['one', 'done', 'two'] : ['one', 'two'], `${JSON.stringify(tail)}: the events of both responses`)
    t.same(lastEventIds, [undefined, '1'], `${JSON.stringify(tail)}: reconnected with Last-Event-ID, then ended at the whole marker`)
  }
})

t.test('app.close() while the client reads is a cut: it reconnects to the next server and resumes with Last-Event-ID', async (t) => {
  const first = await startClientTestServer(t)
  const second = await startClientTestServer(t)
  // One address in front of both, the way a deploy swaps the server behind a proxy.
  let target = first.url
  const fetchCurrent: typeof fetch = async (url, init) => await fetch(String(url).replace(/^http:\/\/[^/]+/, target), init)
  const stream = eventStream(`${first.url}/ticks?until=8&every=20`, { events: tickEvents, validate: Value.Check, reconnect: { delay: 50 }, fetch: fetchCurrent })
  const ticks: number[] = []
  for await (const item of stream) {
    if (item.event !== 'tick') continue
    ticks.push(item.data.n)
    if (item.data.n === 3) {
      target = second.url
      await first.app.close() // the deploy: the old server ends its streams and stops
    }
  }
  t.same(ticks, [1, 2, 3, 4, 5, 6, 7, 8], 'every tick once, in order, across the two servers, then the end')
  t.same(first.requestsTo('/ticks').map(r => r.lastEventId), [undefined])
  t.same(second.requestsTo('/ticks').map(r => r.lastEventId), ['3'], 'the second server got Last-Event-ID 3, and finished the stream: no third request')
})

/** A plain node:http server whose handler gets each request and its number (from 1); closed with the test. */
async function rawServer (t: Test, handle: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ url: string, requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = []
  const server = createServer((req, res) => { requests.push(req); handle(req, res, requests.length) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise(resolve => server.close(resolve)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

t.test('a response that goes silent past heartbeatTimeout is a cut: the client drops it and resumes with Last-Event-ID', async (t) => {
  const closed: number[] = []
  const server = await rawServer(t, (req, res, n) => {
    req.socket.on('close', () => closed.push(n))
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (n === 1) res.write('id: 1\nevent: tick\ndata: {"n":1}\n\n') // then nothing: a silent network path
    else res.end('id: 2\nevent: tick\ndata: {"n":2}\n\nevent: end\ndata: [DONE]\n\n')
  })
  const started = Date.now()
  const items = await collect(eventStream(`${server.url}/silent`, { events: tickEvents, validate: Value.Check, heartbeatTimeout: 300, reconnect: { delay: 20 } }))
  t.same(items.map(item => item.id), ['1', '2'], 'every event once, in order, then the end')
  t.same(server.requests.map(req => req.headers['last-event-id']), [undefined, '1'], 'the reconnect sent the last id seen')
  t.ok(Date.now() - started >= 300, 'not before the timeout')
  await waitFor(() => closed.includes(1), 5000, 'the silent connection closed')
  t.pass('the silent connection was closed by the client')
})

t.test('heartbeats keep a quiet response alive; heartbeatTimeout 0 waits forever', async (t) => {
  const server = await rawServer(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('id: 1\nevent: tick\ndata: {"n":1}\n\n')
    const quiet = req.url === '/quiet'
    let beats = 0
    const timer = setInterval(() => {
      if (!quiet) res.write(': ping\n\n')
      if (++beats === 12) res.end('id: 2\nevent: tick\ndata: {"n":2}\n\nevent: end\ndata: [DONE]\n\n')
    }, 100)
    res.on('close', () => clearInterval(timer))
  })
  const beating = await collect(eventStream(`${server.url}/beating`, { events: tickEvents, validate: Value.Check, heartbeatTimeout: 500 }))
  t.same(beating.map(item => item.id), ['1', '2'])
  const quiet = await collect(eventStream(`${server.url}/quiet`, { events: tickEvents, validate: Value.Check, heartbeatTimeout: 0 }))
  t.same(quiet.map(item => item.id), ['1', '2'])
  t.equal(server.requests.length, 2, 'one request each: 1.2 s of heartbeats, or of silence with no limit, is no cut')
})
