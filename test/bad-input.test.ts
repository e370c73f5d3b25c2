// Every mistake a caller can make gets a clear error and loses nothing: bad sources and
// options are thrown before anything is sent (a normal Fastify JSON error reply), and a
// bad item mid-stream is an invalid event (rule 4) that leaves the events before it intact.

import { test } from 'tap'
import Fastify from 'fastify'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import fastifyTypedSse from '../index.js'
import { listen, withoutEndMarker } from './helpers/server.js'

type Parsed = Pick<EventSourceMessage, 'event' | 'id' | 'data'>
const FAILURE: Parsed = { event: 'stream-error', id: undefined, data: '{"message":"Internal Server Error"}' }
const BEFORE: Parsed = { event: undefined, id: '1', data: 'before' }
const AFTER: Parsed = { event: undefined, id: undefined, data: 'after' }

async function receive (response: Response): Promise<{ text: string, events: Parsed[] }> {
  // What the source sent: a finished stream's end marker is not part of it.
  const { body: text } = withoutEndMarker(await response.text())
  const events: Parsed[] = []
  createParser({ onEvent: ({ event, id, data }) => events.push({ event, id, data }) }).feed(text)
  return { text, events }
}

/** Asserts a normal Fastify JSON error reply with the plugin's code. */
async function assertJsonError (t: tap.Test, response: Response, label: string, code: string, message?: RegExp): Promise<void> {
  t.equal(response.status, 500, `${label}: status 500`)
  t.match(response.headers.get('content-type'), /^application\/json/, `${label}: a JSON reply, not a stream`)
  t.match(await response.json(), { statusCode: 500, code, ...(message === undefined ? {} : { message }) }, `${label}: the body names ${code}`)
}

/** `promise`, or a rejection if it has not settled in time: a hang becomes a clear failure. */
async function within<T> (promise: PromiseLike<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

test('a source that is not iterable is FST_SSE_INVALID_SOURCE, as a JSON 500', async (t) => {
  const sources: Record<string, () => unknown> = {
    number: () => 42,
    null: () => null,
    undefined: () => undefined,
    object: () => ({ data: 'an item, not a list of items' }),
    promise: () => Promise.resolve([{ data: 'x' }]),
    string: () => 'data: x',
    'async function': () => async () => [{ data: 'x' }],
    'function returning a number': () => () => 42
  }
  const { app, url } = await listen((app) => {
    app.get<{ Params: { kind: string } }>('/:kind', async (request, reply) => reply.sseStream(sources[request.params.kind]?.() as never))
  })
  t.teardown(() => app.close())
  for (const kind of Object.keys(sources)) {
    await assertJsonError(t, await fetch(`${url}/${encodeURIComponent(kind)}`), kind, 'FST_SSE_INVALID_SOURCE')
  }
  await assertJsonError(t, await fetch(`${url}/promise`), 'the message explains a Promise', 'FST_SSE_INVALID_SOURCE', /Promise/)
  await assertJsonError(t, await fetch(`${url}/string`), 'the message explains a string', 'FST_SSE_INVALID_SOURCE', /string/)
  await assertJsonError(t, await fetch(`${url}/null`), 'the message explains null', 'FST_SSE_INVALID_SOURCE', /null/)
})

test('a source function that throws before returning gets a normal error reply', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(() => {
      throw Object.assign(new Error('no such feed'), { statusCode: 404 })
    }))
  })
  t.teardown(() => app.close())
  const response = await fetch(url)
  t.equal(response.status, 404)
  t.match(await response.json(), { statusCode: 404, message: 'no such feed' })
})

test('bad stream options are FST_SSE_INVALID_OPTION, as a JSON 500', async (t) => {
  const options: Record<string, unknown> = {
    'negative retry': { retry: -1 },
    'fractional retry': { retry: 1.5 },
    'string retry': { retry: '5' },
    'negative heartbeat': { heartbeatInterval: -1 },
    'fractional heartbeat': { heartbeatInterval: 1.5 },
    'heartbeat beyond a timer': { heartbeatInterval: 2 ** 31 },
    'string validate': { validate: 'yes' },
    'unknown policy': { onInvalidEvent: 'drop' },
    'number done': { done: 5 },
    'done with a lone surrogate': { done: '\ud800' },
    'string endMarker': { endMarker: 'no' },
    'unknown key': { heartbeat: 1000 },
    'a string': 'skip',
    'a number': 5
  }
  const { app, url } = await listen((app) => {
    app.get<{ Params: { kind: string } }>('/:kind', async (request, reply) =>
      reply.sseStream([{ data: 'x' }], options[request.params.kind] as never))
    app.get('/fine', async (_request, reply) => reply.sseStream([{ data: 'x' }], { retry: 0, heartbeatInterval: 0, validate: false, onInvalidEvent: 'skip', done: '' }))
  })
  t.teardown(() => app.close())
  for (const kind of Object.keys(options)) {
    await assertJsonError(t, await fetch(`${url}/${encodeURIComponent(kind)}`), kind, 'FST_SSE_INVALID_OPTION')
  }
  const fine = await fetch(`${url}/fine`)
  t.equal(fine.status, 200, 'edge values that are valid are accepted')
  t.equal(await fine.text(), 'retry: 0\ndata: x\n\ndata: \n\n')
})

test('bad plugin options are FST_SSE_INVALID_OPTION at registration', async (t) => {
  const options: Record<string, unknown> = {
    'negative retry': { retry: -1 },
    'string heartbeat': { heartbeatInterval: '15000' },
    'number validate': { validate: 1 },
    'null endMarker': { endMarker: null },
    'unknown policy': { onInvalidEvent: 'ignore' },
    'done is per stream only': { done: '[DONE]' },
    'unknown key': { heartbeatIntervall: 1000 }
  }
  for (const [label, pluginOptions] of Object.entries(options)) {
    const app = Fastify()
    app.register(fastifyTypedSse, pluginOptions as never)
    await t.rejects(within(app.ready(), 3000), { code: 'FST_SSE_INVALID_OPTION' }, label)
    await app.close().catch(() => {})
  }
})

test('calling sseStream on a reply that was already sent is FST_SSE_REPLY_SENT', async (t) => {
  const caught: Record<string, unknown> = {}
  let sourcesStarted = 0
  const { app, url } = await listen((app) => {
    app.get('/twice', async (_request, reply) => {
      reply.sseStream([{ data: 'first' }])
      try {
        reply.sseStream(() => { sourcesStarted++; return [{ data: 'second' }] })
      } catch (err) {
        caught.twice = err
      }
      return reply
    })
    app.get('/after-send', async (_request, reply) => {
      await reply.code(401).send({ error: 'no' })
      try {
        reply.sseStream(() => { sourcesStarted++; return [{ data: 'late' }] })
      } catch (err) {
        caught.afterSend = err
      }
      return reply
    })
  })
  t.teardown(() => app.close())

  const twice = await receive(await fetch(`${url}/twice`))
  t.match(caught.twice, { code: 'FST_SSE_REPLY_SENT' })
  t.strictSame(twice.events, [{ event: undefined, id: undefined, data: 'first' }], 'the first stream is untouched')

  const afterSend = await fetch(`${url}/after-send`)
  t.equal(afterSend.status, 401)
  t.same(await afterSend.json(), { error: 'no' }, 'the reply already sent is untouched')
  t.match(caught.afterSend, { code: 'FST_SSE_REPLY_SENT' })
  t.equal(sourcesStarted, 0, 'the second source is never started')
})

test('each bad item is an invalid event: the events before it arrive intact', async (t) => {
  const cycle: Record<string, unknown> = { name: 'loop' }
  cycle.self = cycle
  const badItems: Record<string, unknown> = {
    'BigInt data': { data: 10n },
    'nested BigInt data': { data: { big: 10n } },
    'cyclic data': { data: cycle },
    'function data': { data: () => 'leak' },
    'symbol data': { data: Symbol('leak') },
    'missing data': { event: 'leak', id: 'leak' },
    'undefined data': { event: 'leak', data: undefined },
    'number item': 42,
    'string item': 'data: leak',
    'null item': null,
    'undefined item': undefined,
    'array item': ['data', 'leak'],
    'negative retry': { retry: -1, data: 'leak' },
    'fractional retry': { retry: 2.5, data: 'leak' },
    'string retry': { retry: '100', data: 'leak' },
    'NaN retry': { retry: NaN, data: 'leak' },
    'negative id': { id: -1, data: 'leak' },
    'fractional id': { id: 1.5, data: 'leak' },
    'unsafe id': { id: 2 ** 53, data: 'leak' },
    'infinite id': { id: Infinity, data: 'leak' },
    'object id': { id: { n: 1 }, data: 'leak' },
    'empty event name': { event: '', data: 'leak' },
    'number event name': { event: 7, data: 'leak' },
    'comment with data': { comment: 'leak', data: 'leak' },
    'comment with an id': { comment: 'leak', id: 'leak' },
    'comment with a retry': { comment: 'leak', retry: 1 },
    'comment with a lone surrogate': { comment: 'leak\ud800' },
    'comment that is not a string': { comment: 5 }
  }
  const { app, url } = await listen((app) => {
    app.get<{ Params: { kind: string }, Querystring: { policy?: 'skip', async?: string } }>('/:kind', async (request, reply) => {
      const bad = badItems[request.params.kind]
      const source = request.query.async === undefined
        ? [{ id: '1', data: 'before' }, bad, { data: 'after' }]
        : (async function * () {
            yield { id: '1', data: 'before' }
            await new Promise(resolve => setTimeout(resolve, 10)) // the first event is on the wire before the bad item
            yield bad
            yield { data: 'after' }
          })()
      return reply.sseStream(source as never, request.query.policy === undefined ? undefined : { onInvalidEvent: request.query.policy })
    })
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  for (const kind of Object.keys(badItems)) {
    const path = `${url}/${encodeURIComponent(kind)}`
    const ended = await receive(await fetch(path))
    t.strictSame(ended.events, [BEFORE, FAILURE], `${kind}: ends the stream after the events before it`)
    t.notOk(ended.text.includes('leak'), `${kind}: nothing of it is written`)
    const skipped = await receive(await fetch(`${path}?policy=skip`))
    t.strictSame(skipped.events, [BEFORE, AFTER], `${kind}: skipped with 'skip'`)
  }
  for (const kind of ['BigInt data', 'missing data', 'null item', 'negative id']) {
    const ended = await receive(await fetch(`${url}/${encodeURIComponent(kind)}?async=1`))
    t.strictSame(ended.events, [BEFORE, FAILURE], `${kind}, after a pause: ends the stream after the events before it`)
  }
})

test('a handler can still reply with a normal JSON error before calling sseStream', async (t) => {
  let started = 0
  const { app, url } = await listen((app) => {
    app.get('/', async (request, reply) => {
      if (request.headers.authorization !== 'Bearer ok') return reply.code(401).send({ error: 'Unauthorized' })
      return reply.sseStream(() => { started++; return [{ data: 'welcome' }] })
    })
  })
  t.teardown(() => app.close())

  const refused = await fetch(url)
  t.equal(refused.status, 401)
  t.match(refused.headers.get('content-type'), /^application\/json/)
  t.same(await refused.json(), { error: 'Unauthorized' })
  t.equal(started, 0)

  const allowed = await fetch(url, { headers: { authorization: 'Bearer ok' } })
  t.equal(allowed.status, 200)
  t.strictSame((await receive(allowed)).events, [{ event: undefined, id: undefined, data: 'welcome' }])
  t.equal(started, 1)
})
