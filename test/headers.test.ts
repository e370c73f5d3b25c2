// Rule 1: the response headers of a stream, sent at once before any event; headers set
// earlier (reply.header, hooks, @fastify/cors) are kept; HEAD gets headers and never
// starts the source. Requests use node:http and raw sockets to control the connection.

import { test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import cors from '@fastify/cors'
import { createParser } from 'eventsource-parser'
import { listen } from './helpers/server.js'

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

function request (url: string, options: http.RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(url, options, (response) => {
      response.setEncoding('utf8')
      let body = ''
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
      response.on('error', reject)
    })
    outgoing.on('error', reject)
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('no answer within 10 s')))
    outgoing.end()
  })
}

/** Writes `text` on a fresh socket and reads until the server closes it. */
function rawExchange (url: string, text: string): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1')
    let answer = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')))
    socket.write(text, 'latin1')
  })
}

function dataOf (body: string): string[] {
  const data: string[] = []
  createParser({ onEvent: (event) => data.push(event.data) }).feed(body)
  return data
}

const streamRoute = async (app: import('fastify').FastifyInstance): Promise<void> => {
  app.get('/', async (_request, reply) => reply.sseStream([{ data: 'x' }]))
}

test('a stream answers 200 with the event-stream headers', async (t) => {
  const { app, url } = await listen(streamRoute)
  t.teardown(() => app.close())
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const answer = await request(url, { agent })
  t.equal(answer.status, 200)
  t.equal(answer.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(answer.headers['cache-control'], 'no-cache, no-transform')
  t.equal(answer.headers['x-accel-buffering'], 'no')
  t.equal(answer.headers.connection, 'keep-alive', 'HTTP/1.1 keeps the connection alive')
  t.equal(answer.headers['content-length'], undefined, 'a stream has no length')
  t.same(dataOf(answer.body), ['x', '[DONE]'])
})

test('no connection: keep-alive when the client asks to close', async (t) => {
  const { app, url } = await listen(streamRoute)
  t.teardown(() => app.close())

  const answer = await request(url, { agent: false, headers: { connection: 'close' } })
  t.equal(answer.status, 200)
  t.not(answer.headers.connection, 'keep-alive')
  t.same(dataOf(answer.body), ['x', '[DONE]'])

  const mixedCase = await request(url, { agent: false, headers: { connection: 'Close' } })
  t.not(mixedCase.headers.connection, 'keep-alive', 'the token is case-insensitive')
})

test('no connection: keep-alive on HTTP/1.0', async (t) => {
  const { app, url } = await listen(streamRoute)
  t.teardown(() => app.close())
  const answer = await rawExchange(url, 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n')
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 200 /)
  t.match(head, /\r\ncontent-type: text\/event-stream; charset=utf-8\r\n/i)
  t.notMatch(head, /\r\nconnection: keep-alive/i)
  t.equal(body, 'data: x\n\nevent: end\ndata: [DONE]\n\n', 'the body is the stream, unchunked, and the connection closes after it')
})

test('headers go out before the first event', async (t) => {
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  let firstPulled = false
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * () {
      firstPulled = true
      await released
      yield { data: 'late' }
    }))
  })
  t.teardown(() => app.close())
  t.teardown(release)

  const started = Date.now()
  const outgoing = http.get(url, { agent: false })
  t.teardown(() => outgoing.destroy())
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response headers within 5 s while the source waits')), 5000)
    outgoing.on('response', (response) => { clearTimeout(timer); resolve(response) })
    outgoing.on('error', reject)
  })
  const elapsed = Date.now() - started
  t.equal(response.statusCode, 200, 'the headers arrived while the source had not yielded yet')
  t.ok(elapsed < 1500, `the headers arrived at once (${elapsed} ms)`)
  t.ok(firstPulled, 'the source was already started')

  response.setEncoding('utf8')
  let body = ''
  response.on('data', (chunk: string) => { body += chunk })
  const ended = new Promise((resolve) => response.on('end', resolve))
  release()
  await ended
  t.same(dataOf(body), ['late', '[DONE]'])
})

test('headers set earlier are kept, and the status is 200', async (t) => {
  const { app, url } = await listen((app) => {
    app.addHook('onRequest', async (_request, reply) => { reply.header('x-from-hook', 'hook') })
    app.get('/', async (_request, reply) => {
      reply.header('x-request-tag', 'abc').header('set-cookie', ['a=1', 'b=2']).code(201)
      return reply.sseStream([{ data: 'x' }])
    })
    app.get('/override', async (_request, reply) => {
      // The plugin owns these: a stream cannot work with another type, caching or a length.
      reply.header('content-type', 'application/json').header('cache-control', 'max-age=60').header('content-length', '5')
      return reply.sseStream([{ data: 'x' }])
    })
  })
  t.teardown(() => app.close())

  const answer = await request(url, { agent: false })
  t.equal(answer.status, 200, 'reply.code(201) does not change a stream\'s status')
  t.equal(answer.headers['x-from-hook'], 'hook')
  t.equal(answer.headers['x-request-tag'], 'abc')
  t.same(answer.headers['set-cookie'], ['a=1', 'b=2'], 'multi-value headers survive')
  t.equal(answer.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.same(dataOf(answer.body), ['x', '[DONE]'])

  const override = await request(`${url}/override`, { agent: false })
  t.equal(override.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(override.headers['cache-control'], 'no-cache, no-transform')
  t.equal(override.headers['content-length'], undefined)
  t.same(dataOf(override.body), ['x', '[DONE]'])
})

test('@fastify/cors headers reach the stream', async (t) => {
  const origin = 'http://client.example'
  const { app, url } = await listen(async (app) => {
    // A list of origins makes cors reflect the request's origin and add vary: Origin.
    await app.register(cors, { origin: [origin], credentials: true, exposedHeaders: ['x-stream'] })
    await streamRoute(app)
    app.get('/json', async () => ({ ok: true }))
  })
  t.teardown(() => app.close())

  const preflight = await request(url, {
    method: 'OPTIONS',
    agent: false,
    headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' }
  })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers['access-control-allow-origin'], origin)
  t.equal(preflight.headers['access-control-allow-credentials'], 'true')

  const actual = await request(url, { agent: false, headers: { origin, 'last-event-id': '3' } })
  t.equal(actual.status, 200)
  t.equal(actual.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(actual.headers['access-control-allow-origin'], origin)
  t.equal(actual.headers['access-control-allow-credentials'], 'true')
  t.equal(actual.headers['access-control-expose-headers'], 'x-stream')
  t.match(actual.headers.vary, /origin/i)
  t.same(dataOf(actual.body), ['x', '[DONE]'])

  // The stream carries exactly the CORS headers a plain JSON route gets.
  const json = await request(`${url}/json`, { agent: false, headers: { origin } })
  const corsHeaders = (headers: http.IncomingHttpHeaders): Record<string, unknown> =>
    Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-') || name === 'vary'))
  t.same(corsHeaders(actual.headers), corsHeaders(json.headers))
})

test('HEAD gets the headers and never starts the source', async (t) => {
  let functionCalls = 0
  let bodiesRun = 0
  let lastGenerator: Generator<{ data: string }> | undefined
  let lastAsyncGenerator: AsyncGenerator<{ data: string }> | undefined
  const { app, url } = await listen((app) => {
    app.get('/function', async (_request, reply) => reply.sseStream(() => {
      functionCalls++
      return [{ data: 'x' }]
    }))
    app.get('/generator', async (_request, reply) => {
      lastGenerator = (function * () {
        bodiesRun++
        yield { data: 'x' }
      })()
      return reply.sseStream(lastGenerator)
    })
    app.get('/async-generator', async (_request, reply) => {
      lastAsyncGenerator = (async function * () {
        bodiesRun++
        yield { data: 'x' }
      })()
      return reply.sseStream(lastAsyncGenerator)
    })
  })
  t.teardown(() => app.close())

  for (const path of ['/function', '/generator', '/async-generator']) {
    const head = await request(`${url}${path}`, { method: 'HEAD', agent: false })
    t.equal(head.status, 200, `${path}: 200`)
    t.equal(head.headers['content-type'], 'text/event-stream; charset=utf-8', `${path}: the stream's headers`)
    t.equal(head.headers['cache-control'], 'no-cache, no-transform', `${path}: the stream's headers`)
    t.equal(head.body, '', `${path}: no body`)
  }
  t.equal(functionCalls, 0, 'the source function was never called')
  t.equal(bodiesRun, 0, 'no generator body ever ran')
  t.same(lastGenerator?.next(), { done: true, value: undefined }, 'the generator handed over was closed with return()')
  t.same(await lastAsyncGenerator?.next(), { done: true, value: undefined }, 'the async generator handed over was closed with return()')
  t.equal(bodiesRun, 0)

  // The same routes do stream on GET, so the counters above could have moved.
  for (const path of ['/function', '/generator', '/async-generator']) {
    t.same(dataOf((await request(`${url}${path}`, { agent: false })).body), ['x', '[DONE]'], `${path}: GET streams`)
  }
  t.equal(functionCalls, 1)
  t.equal(bodiesRun, 2)
})
