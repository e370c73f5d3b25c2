// The demo's routes over HTTP/2 without TLS (h2c, `http2: true`), driven by the
// node:http2 client: no connection-specific headers, every stream multiplexed on
// one connection (no six-connections-per-host limit), and no process warnings.

import { test, type Test } from 'tap'
import http2 from 'node:http2'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { replyFor } from '../example/model.js'
import { startHttp2Demo } from './helpers/demo.js'
import { waitFor } from './helpers/events.js'

// Node warns (UnsupportedWarning) when a response sets a `connection` header over HTTP/2.
const warnings: Error[] = []
process.on('warning', (warning) => warnings.push(warning))

interface H2Exchange {
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader
  stream: http2.ClientHttp2Stream
}

async function request (session: http2.ClientHttp2Session, path: string, options: { method?: string, headers?: http2.OutgoingHttpHeaders, json?: unknown } = {}): Promise<H2Exchange> {
  const stream = session.request({
    ':method': options.method ?? 'GET',
    ':path': path,
    ...(options.json === undefined ? {} : { 'content-type': 'application/json' }),
    ...options.headers
  })
  stream.end(options.json === undefined ? undefined : JSON.stringify(options.json))
  const [headers] = await new Promise<[H2Exchange['headers']]>((resolve, reject) => {
    stream.once('response', (headers) => resolve([headers]))
    stream.once('error', reject)
  })
  return { headers, stream }
}

/** Parses the stream with eventsource-parser until `until` holds (then cancels it) or it ends. */
async function readEvents ({ stream }: H2Exchange, until: (events: EventSourceMessage[]) => boolean = () => false, timeoutMs = 10_000): Promise<{ events: EventSourceMessage[], ended: boolean }> {
  const events: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (event) => events.push(event) })
  const timer = setTimeout(() => stream.destroy(new Error(`timed out; events so far: ${JSON.stringify(events)}`)), timeoutMs)
  stream.setEncoding('utf8')
  try {
    for await (const chunk of stream) {
      parser.feed(chunk as string)
      if (until(events)) return { events, ended: false } // leaving the loop resets the stream: the client leaves
    }
    return { events, ended: true }
  } finally {
    clearTimeout(timer)
  }
}

async function readJson ({ stream }: H2Exchange): Promise<any> {
  let body = ''
  stream.setEncoding('utf8')
  for await (const chunk of stream) body += chunk
  return JSON.parse(body)
}

async function connectTo (t: Test, url: string): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url)
  t.teardown(() => { session.destroy() })
  await new Promise((resolve, reject) => session.once('connect', resolve).once('error', reject))
  return session
}

function assertStreamHeaders (t: Test, headers: H2Exchange['headers']): void {
  t.equal(headers[':status'], 200)
  t.equal(headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(headers['cache-control'], 'no-cache, no-transform')
  t.equal(headers['x-accel-buffering'], 'no')
  for (const name of ['connection', 'keep-alive', 'transfer-encoding']) t.notOk(name in headers, `no ${name} header`)
}

test('the page and the clock over h2c: hello, then the time; the stream ends when the client leaves', async (t) => {
  const { url } = await startHttp2Demo(t)
  const session = await connectTo(t, url)
  const page = await request(session, '/')
  t.equal(page.headers[':status'], 200)
  t.match(page.headers['content-type'], /^text\/html/)
  page.stream.resume()

  const clock = await request(session, '/events')
  assertStreamHeaders(t, clock.headers)
  const { events } = await readEvents(clock, (events) => events.length >= 3)
  t.same(events.map(e => e.event), ['hello', 'time', 'time'])
  await waitFor('the stream to close', async () => (await readJson(await request(session, '/stats'))).openStreams === 0)
})

test('POST /chat over h2c streams the tokens, then [DONE], then ends', async (t) => {
  const { url } = await startHttp2Demo(t)
  const session = await connectTo(t, url)
  const prompt = 'What about HTTP/2?'
  const chat = await request(session, '/chat', { method: 'POST', json: { prompt } })
  assertStreamHeaders(t, chat.headers)
  const { events, ended } = await readEvents(chat)
  t.ok(ended, 'the response ended')
  t.equal(events.at(-1)?.data, '[DONE]')
  t.equal(events.slice(0, -1).map(e => JSON.parse(e.data).delta).join(''), replyFor(prompt))
})

test('log tail, ticker and counter over h2c: resume with Last-Event-ID, drop ends the streams', async (t) => {
  const { url } = await startHttp2Demo(t)
  const session = await connectTo(t, url)

  const appended = await request(session, '/log', { method: 'POST', json: { line: 'over h2' } })
  t.equal(appended.headers[':status'], 204)
  appended.stream.resume()
  const log = await readEvents(await request(session, '/log'), (events) => events.length >= 1)
  t.same(log.events.map(e => [e.event, e.id, e.data]), [['line', '1', 'over h2']])

  const ticker = await readEvents(await request(session, '/ticker', { headers: { 'last-event-id': '7' } }), (events) => events.length >= 1)
  t.same(ticker.events.map(e => [e.event, e.id]), [['tick', '8']])

  const counter = await request(session, '/counter')
  assertStreamHeaders(t, counter.headers)
  const reading = readEvents(counter)
  // Once the streams read above have been torn down, the counter is the one open stream.
  await waitFor('only the counter to be open', async () => (await readJson(await request(session, '/stats'))).openStreams === 1)
  await new Promise(resolve => setTimeout(resolve, 150)) // a few events
  const dropped = await readJson(await request(session, '/drop', { method: 'POST' }))
  t.equal(dropped.dropped, 1)
  const { events, ended } = await reading
  t.ok(ended, 'the drop ended the stream')
  const last = events.length
  t.same(events.map(e => e.id), events.map((_e, i) => String(i + 1)))
  const resumed = await readEvents(await request(session, '/counter', { headers: { 'last-event-id': String(last) } }), (events) => events.length >= 1)
  t.same(JSON.parse(resumed.events[0]!.data), { n: last + 1, resumedAfter: last })
})

test('ten streams at once share one HTTP/2 connection', async (t) => {
  const { app, url } = await startHttp2Demo(t)
  let sessions = 0
  app.server.on('session', () => { sessions++ })
  const session = await connectTo(t, url)
  const paths = ['/events', '/ticker', '/log', '/counter', '/events', '/ticker', '/counter', '/events', '/ticker', '/counter']
  const exchanges = await Promise.all(paths.map(path => request(session, path)))
  t.same(exchanges.map(exchange => exchange.headers[':status']), paths.map(() => 200), 'all ten open, beyond the six a browser allows per host over HTTP/1.1')
  const firsts = await Promise.all(exchanges.filter((_e, i) => paths[i] !== '/log').map(exchange => readEvents(exchange, (events) => events.length >= 1)))
  t.equal(firsts.length, 9)
  t.ok(firsts.every(({ events }) => events.length >= 1), 'each one streams')
  for (const [i, exchange] of exchanges.entries()) if (paths[i] === '/log') exchange.stream.close()
  t.equal(sessions, 1, 'over one connection')
})

test('no process warnings (such as the one for a connection header over HTTP/2)', async (t) => {
  t.same(warnings.map(String), [])
})
