// Rules 7 and 8: how a stream ends. A failing source ends it with one
// `stream-error` event that gives nothing away (and is logged through
// request.log); a finished source ends it with the end marker (`event: end`,
// `data: [DONE]`) or, when asked for, the `done` sentinel, and only then: any
// other end is a cut. The plugin writes no other events of its own.

import { test, type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from '@sinclair/typebox'
import type { ServerResponse } from 'node:http'
import { END_MARKER, listen, readEvents } from './helpers/server.js'

const GENERIC_FAILURE = 'event: stream-error\ndata: {"message":"Internal Server Error"}\n\n'
const SECRET = 'password=hunter2 at db.internal:5432'

async function waitFor (condition: () => boolean, timeout: number, what: string): Promise<void> {
  const deadline = performance.now() + timeout
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await sleep(5)
  }
}

interface LogLine {
  level: number
  msg: string
  reqId?: string
  err?: { message?: string, stack?: string }
}

/** A Fastify logger whose lines the test can read. */
function capturedLogs (): { lines: LogLine[], logger: { level: string, stream: { write (line: string): void } } } {
  const lines: LogLine[] = []
  return { lines, logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } }
}

/** Fails the test on any unhandled rejection while it runs. */
function noUnhandledRejections (t: Test): () => void {
  const rejections: unknown[] = []
  const onRejection = (reason: unknown): void => { rejections.push(reason) }
  process.on('unhandledRejection', onRejection)
  t.teardown(() => process.off('unhandledRejection', onRejection))
  return () => t.same(rejections, [], 'no unhandled rejection')
}

/** Lets pending rejections surface before checking for them. */
async function settle (): Promise<void> {
  await sleep(50)
  await new Promise(resolve => setImmediate(resolve))
}

test('a source that throws mid-stream ends with one generic stream-error event, logged through request.log', async (t) => {
  const checkRejections = noUnhandledRejections(t)
  const logs = capturedLogs()
  const requestIds: string[] = []
  const { app, url } = await listen((app) => {
    app.get('/fails', async (request, reply) => {
      requestIds.push(request.id)
      return reply.sseStream(async function * () {
        yield { event: 'token', data: { n: 1 }, id: '1' }
        yield { data: 'second\nline' }
        throw new Error(`connect ECONNREFUSED ${SECRET}`)
      })
    })
    app.get('/ok', async () => ({ ok: true }))
  }, { fastify: { logger: logs.logger } })
  t.teardown(() => app.close())

  const response = await fetch(url + '/fails')
  t.equal(response.status, 200)
  const parsed = await readEvents(response)
  t.same(parsed.events.map(event => [event.event, event.id, event.data]), [
    ['token', '1', '{"n":1}'],
    [undefined, undefined, 'second\nline'],
    ['stream-error', undefined, '{"message":"Internal Server Error"}']
  ], 'the events before the failure are intact and the last one is stream-error')
  t.same(JSON.parse(parsed.events.at(-1)!.data), { message: 'Internal Server Error' }, 'its data is only a generic message')
  t.ok(parsed.raw.endsWith(GENERIC_FAILURE), 'the body ends with the failure event')
  for (const internal of ['hunter2', 'ECONNREFUSED', 'db.internal', 'Error:', '    at ', '.ts', 'stack']) {
    t.notOk(parsed.raw.includes(internal), `the stream shows nothing of the error (${JSON.stringify(internal)})`)
  }

  await waitFor(() => logs.lines.some(line => line.msg === 'SSE source failed'), 5000, 'the failure to be logged')
  const logged = logs.lines.filter(line => line.msg === 'SSE source failed')
  t.equal(logged.length, 1, 'the failure is logged once')
  t.equal(logged[0]!.level, 50, 'at level error')
  t.equal(logged[0]!.reqId, requestIds[0], 'through request.log (it carries the request id)')
  t.match(logged[0]!.err?.message, /hunter2/, 'with the error itself')

  const again = await readEvents(await fetch(url + '/fails'))
  t.equal(again.events.length, 3, 'the same route streams again')
  const ok = await fetch(url + '/ok')
  t.same(await ok.json(), { ok: true }, 'and the server keeps serving other routes')
  await settle()
  checkRejections()
})

test('error.expose === true shows the error\'s own message, nothing else does', async (t) => {
  const checkRejections = noUnhandledRejections(t)
  const failures: Record<string, () => Error> = {
    exposed: () => Object.assign(new Error('Quota exceeded, retry in a minute'), { expose: true, statusCode: 429 }),
    'expose-false': () => Object.assign(new Error(SECRET), { expose: false }),
    'expose-truthy': () => Object.assign(new Error(SECRET), { expose: 'true' }),
    plain: () => new TypeError(SECRET)
  }
  const { app, url } = await listen((app) => {
    for (const [name, failure] of Object.entries(failures)) {
      app.get(`/${name}`, async (_request, reply) => reply.sseStream(async function * () {
        yield { data: 'before' }
        throw failure()
      }))
    }
  })
  t.teardown(() => app.close())

  const exposed = await readEvents(await fetch(url + '/exposed'))
  t.equal(exposed.raw, 'data: before\n\nevent: stream-error\ndata: {"message":"Quota exceeded, retry in a minute"}\n\n', 'the exposed message, and only it')
  for (const name of ['expose-false', 'expose-truthy', 'plain']) {
    const parsed = await readEvents(await fetch(`${url}/${name}`))
    t.equal(parsed.raw, 'data: before\n\n' + GENERIC_FAILURE, `${name}: the generic message`)
  }
  await settle()
  checkRejections()
})

test('a source that throws before its first item sends only the failure event', async (t) => {
  const checkRejections = noUnhandledRejections(t)
  const logs = capturedLogs()
  const { app, url } = await listen((app) => {
    app.get('/async', async (_request, reply) => reply.sseStream(async function * () {
      await sleep(10)
      throw new Error(SECRET)
    }))
    app.get('/sync', async (_request, reply) => reply.sseStream(function * () {
      throw new Error(SECRET)
    }()))
  }, { fastify: { logger: logs.logger } })
  t.teardown(() => app.close())

  for (const path of ['/async', '/sync']) {
    const response = await fetch(url + path)
    t.equal(response.status, 200, `${path}: the headers had gone out already`)
    t.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8')
    const parsed = await readEvents(response)
    t.equal(parsed.raw, GENERIC_FAILURE, `${path}: the body is the failure event, byte for byte`)
  }
  await waitFor(() => logs.lines.filter(line => line.msg === 'SSE source failed').length === 2, 5000, 'both failures to be logged')
  t.pass('both failures are logged')
  await settle()
  checkRejections()
})

test('done: the sentinel follows a source that finished normally, byte for byte at the end of the body', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * () {
      yield { data: 'a' }
      yield { event: 'x', data: { n: 1 }, id: 7 }
    }, { done: '[DONE]' }))
    app.get('/without', async (_request, reply) => reply.sseStream([{ data: 'a' }]))
  })
  t.teardown(() => app.close())

  const parsed = await readEvents(await fetch(url))
  t.equal(parsed.raw, 'data: a\n\nevent: x\nid: 7\ndata: {"n":1}\n\ndata: [DONE]\n\n', 'the events, then data: [DONE] and a blank line')
  t.same(parsed.events.at(-1), { event: undefined, id: undefined, data: '[DONE]' }, 'a client sees a last message [DONE]')
  const without = await readEvents(await fetch(url + '/without'))
  t.equal(without.raw, 'data: a\n\n' + END_MARKER, 'no sentinel unless asked for: the end marker instead')
})

test('done: no sentinel after a failure or an invalid event that ends the stream', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/fails', async (_request, reply) => reply.sseStream(async function * () {
      yield { data: 'a' }
      throw new Error('broken')
    }, { done: '[DONE]' }))
    app.get('/invalid', { schema: { sse: { tick: Type.Object({ n: Type.Number() }) } } }, async (_request, reply) =>
      reply.sseStream(async function * () {
        yield { event: 'tick' as const, data: { n: 1 } }
        yield { event: 'tick' as const, data: { n: 'one' } as unknown as { n: number } }
        yield { event: 'tick' as const, data: { n: 3 } }
      }, { done: '[DONE]', onInvalidEvent: 'end' }))
  })
  t.teardown(() => app.close())

  const failed = await readEvents(await fetch(url + '/fails'))
  t.equal(failed.raw, 'data: a\n\n' + GENERIC_FAILURE, 'after a failure: the failure event and no sentinel')
  const invalid = await readEvents(await fetch(url + '/invalid'))
  t.equal(invalid.raw, 'event: tick\ndata: {"n":1}\n\n' + GENERIC_FAILURE, 'after an invalid event: the failure event and no sentinel')
})

test('done: no sentinel is written after the client left, even when the source then finishes normally', async (t) => {
  let response: ServerResponse | undefined
  const written: string[] = []
  let signal: AbortSignal | undefined
  let finished = false
  let settleAwait!: () => void
  const blocked = new Promise<void>(resolve => { settleAwait = resolve })
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => {
      response = reply.raw
      // Records every byte the plugin hands to the response, including any after the client left.
      const write = response.write.bind(response) as (chunk: unknown, ...rest: unknown[]) => boolean
      const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse
      response.write = ((chunk: unknown, ...rest: unknown[]) => {
        written.push(String(chunk))
        return write(chunk, ...rest)
      }) as typeof response.write
      response.end = ((...args: unknown[]) => {
        if (typeof args[0] === 'string' || Buffer.isBuffer(args[0])) written.push(String(args[0]))
        return end(...args)
      }) as typeof response.end
      return reply.sseStream(async function * (context) {
        signal = context.signal
        yield { data: 'first' }
        await blocked // ignores the signal
        finished = true // and then finishes normally
      }, { done: '[DONE]' })
    })
  })
  t.teardown(() => app.close())

  const request = http.get(url, { agent: false })
  request.on('error', () => {})
  t.teardown(() => request.destroy())
  const received = await new Promise<string>((resolve, reject) => {
    request.once('response', (incoming) => {
      incoming.setEncoding('utf8')
      incoming.once('data', resolve)
    })
    request.once('error', reject)
  })
  t.equal(received, 'data: first\n\n')
  request.destroy()
  await waitFor(() => signal?.aborted === true, 5000, 'the stream to notice the client left')
  settleAwait()
  await waitFor(() => finished, 5000, 'the source to finish')
  await settle()
  t.notOk(written.join('').includes('[DONE]'), 'no sentinel was handed to the response')
})

test('a POST route streams the AI-chat pattern and ends with [DONE]', async (t) => {
  const { app, url } = await listen((app) => {
    app.post('/v1/chat/completions', async (request, reply) => {
      const { messages } = request.body as { messages: Array<{ role: string, content: string }> }
      const tokens = ['You', ' said', ': ', messages.at(-1)!.content]
      return reply.sseStream(async function * () {
        for (const content of tokens) {
          await sleep(5)
          yield { data: { choices: [{ index: 0, delta: { content } }] } }
        }
      }, { done: '[DONE]' })
    })
  })
  t.teardown(() => app.close())

  const response = await fetch(url + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'hello' }] })
  })
  t.equal(response.status, 200)
  t.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  const parsed = await readEvents(response)
  const data = parsed.events.map(event => event.data)
  t.equal(data.at(-1), '[DONE]', 'the last message is [DONE]')
  const text = data.slice(0, -1).map(chunk => (JSON.parse(chunk) as { choices: Array<{ delta: { content: string } }> }).choices[0]!.delta.content).join('')
  t.equal(text, 'You said: hello', 'the chunks before it carry the whole answer')
  t.ok(parsed.raw.endsWith('}\n\ndata: [DONE]\n\n'), 'the body ends with the sentinel, byte for byte')
})

test('the plugin writes no events of its own besides the end marker: heartbeats and retry are not events', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * () {
      yield { event: 'a', data: 'one' }
      await sleep(400) // idle long enough for several heartbeats
      yield { data: 'two' }
    }, { heartbeatInterval: 50, retry: 2500 }))
  })
  t.teardown(() => app.close())

  const parsed = await readEvents(await fetch(url))
  t.same(parsed.events.map(event => [event.event, event.data]), [['a', 'one'], [undefined, 'two'], ['end', '[DONE]']], 'only the source\'s events, then the end marker')
  t.ok(parsed.comments.length >= 2, `heartbeat comments were sent (${parsed.comments.length})`)
  t.same(parsed.retries, [2500])
  t.same(parsed.raw.match(/^event: .*$/gm), ['event: a', 'event: end'], 'no event: line besides the source\'s and the end marker')
})

test('the end marker: written once when the source finishes, turned off per registration or per stream', async (t) => {
  const routes = (app: FastifyInstance): void => {
    app.get('/', async (_request, reply) => reply.sseStream([{ data: 'a' }, { event: 'x', data: 'b', id: 1 }]))
    app.get('/empty', async (_request, reply) => reply.sseStream([]))
    app.get('/off', async (_request, reply) => reply.sseStream([{ data: 'a' }], { endMarker: false }))
    app.get('/on', async (_request, reply) => reply.sseStream([{ data: 'a' }], { endMarker: true }))
    app.get('/done', async (_request, reply) => reply.sseStream([{ data: 'a' }], { done: '[DONE]', endMarker: true }))
  }
  const on = await listen(routes, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => on.app.close())
  const off = await listen(routes, { plugin: { heartbeatInterval: 0, endMarker: false } })
  t.teardown(() => off.app.close())

  t.equal(await (await fetch(on.url)).text(), 'data: a\n\nevent: x\nid: 1\ndata: b\n\nevent: end\ndata: [DONE]\n\n', 'the events, then event: end and data: [DONE] and the blank line')
  t.equal(await (await fetch(on.url + '/empty')).text(), END_MARKER, 'a source with no events: the marker alone')
  t.equal(await (await fetch(on.url + '/off')).text(), 'data: a\n\n', 'endMarker: false on the stream: the old bytes')
  t.equal(await (await fetch(on.url + '/done')).text(), 'data: a\n\ndata: [DONE]\n\n', 'the done sentinel is the end: no second block')
  t.equal(await (await fetch(off.url)).text(), 'data: a\n\nevent: x\nid: 1\ndata: b\n\n', 'endMarker: false on the registration: the old bytes')
  t.equal(await (await fetch(off.url + '/on')).text(), 'data: a\n\n' + END_MARKER, 'and a stream can turn it back on')
})

test('no end marker when the server closes: app.close() while the stream is open is a cut', async (t) => {
  let started!: () => void
  const open = new Promise<void>(resolve => { started = resolve })
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * (context) {
      yield { data: 'first' }
      started()
      // A source that would finish normally once the server ends it.
      await new Promise(resolve => context.signal.addEventListener('abort', resolve, { once: true }))
    }, { heartbeatInterval: 0 }))
  })
  const response = await fetch(url)
  const body = readEvents(response)
  await open
  await app.close()
  const parsed = await body
  t.equal(parsed.raw, 'data: first\n\n', 'the events, and no marker: the client must reconnect')
})
