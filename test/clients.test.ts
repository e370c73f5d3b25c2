// The demo's routes with the Node clients people use: the `eventsource` package,
// undici's EventSource, eventsource-parser over fetch for the POST chat, and curl.

import { test } from 'tap'
import { execFile } from 'node:child_process'
import { EventSource } from 'eventsource'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { EventSource as UndiciEventSource, type MessageEvent } from 'undici'
import { replyFor } from '../example/model.js'
import { startDemo } from './helpers/demo.js'
import { waitFor } from './helpers/events.js'
import { requireProgram } from './helpers/programs.js'

// undici marks its EventSource experimental with a warning (code UNDICI-ES); anything else is a finding.
const warnings: Error[] = []
process.on('warning', (warning) => warnings.push(warning))

interface Count { id: string, n: number, resumedAfter: number | null }

/** Records the Last-Event-ID header of every request to `path`, as the server received it. */
function recordLastEventIds (path: string, into: Array<string | undefined>) {
  return (app: import('fastify').FastifyInstance): void => {
    app.addHook('onRequest', async (request) => {
      if (request.url.startsWith(path)) into.push(request.headers['last-event-id'] as string | undefined)
    })
  }
}

function closedWithin<T> (ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

test('eventsource: reconnects after the server drops the stream, resumes after Last-Event-ID, and stops at a 204', async (t) => {
  const lastEventIds: Array<string | undefined> = []
  const { url } = await startDemo(t, { counterIntervalMs: 80 }, recordLastEventIds('/counter', lastEventIds))

  const source = new EventSource(`${url}/counter?until=8`)
  t.teardown(() => source.close())
  const counts: Count[] = []
  source.addEventListener('count', (event) => counts.push({ id: event.lastEventId, ...JSON.parse(event.data) }))
  const stopped = new Promise<{ code?: number }>(resolve => {
    source.addEventListener('error', (event) => { if (source.readyState === EventSource.CLOSED) resolve(event) })
  })

  await waitFor('three events', () => counts.length >= 3)
  const drop = await (await fetch(`${url}/drop`, { method: 'POST' })).json() as { dropped: number }
  t.equal(drop.dropped, 1)
  const error = await closedWithin(10_000, 'the 204 that stops the client', stopped)

  t.same(counts.map(count => count.n), [1, 2, 3, 4, 5, 6, 7, 8], 'every event once, in order')
  t.same(counts.map(count => count.id), counts.map(count => String(count.n)), 'lastEventId follows the ids')
  const beforeDrop = counts.filter(count => count.resumedAfter === null).length
  t.ok(beforeDrop >= 3 && beforeDrop < 8, 'the first connection was cut part way')
  t.same(counts.slice(beforeDrop).map(count => count.resumedAfter), counts.slice(beforeDrop).map(() => beforeDrop),
    'the second connection resumed after the last event of the first')
  t.same(lastEventIds, [undefined, String(beforeDrop), '8'], 'what the server received: nothing, then each last id')
  t.equal(error.code, 204, 'a 204 stops the client')
  t.equal(source.readyState, EventSource.CLOSED)

  await new Promise(resolve => setTimeout(resolve, 600)) // three reconnection delays
  t.equal(lastEventIds.length, 3, 'and it does not come back')
})

test('eventsource: named events reach their own listeners, not onmessage', async (t) => {
  const { url } = await startDemo(t)
  const source = new EventSource(`${url}/ticker`)
  t.teardown(() => source.close())
  const ticks: Array<{ id: string, seq: number }> = []
  const alarms: Array<{ severity: string, seq: number }> = []
  let messages = 0
  source.addEventListener('tick', (event) => ticks.push({ id: event.lastEventId, seq: JSON.parse(event.data).seq }))
  source.addEventListener('alarm', (event) => alarms.push(JSON.parse(event.data)))
  source.onmessage = () => { messages++ }
  await waitFor('an alarm', () => alarms.length >= 1)
  source.close()

  t.same(ticks.map(tick => tick.seq), ticks.map((_tick, i) => i + 1))
  t.same(ticks.map(tick => tick.id), ticks.map(tick => String(tick.seq)))
  t.match(alarms[0], { severity: 'high', seq: Number(ticks.at(-1)?.id) })
  t.equal(messages, 0, 'no event fell through to onmessage')
})

test('undici EventSource: named events, the last event id, reconnect with Last-Event-ID and a 204 that stops it', async (t) => {
  const lastEventIds: Array<string | undefined> = []
  const { url } = await startDemo(t, {}, recordLastEventIds('/counter', lastEventIds))

  const ticker = new UndiciEventSource(`${url}/ticker`)
  t.teardown(() => ticker.close())
  const seen: Array<[string, string]> = []
  ticker.addEventListener('tick', (event) => seen.push(['tick', (event as MessageEvent).lastEventId]))
  ticker.addEventListener('alarm', (event) => seen.push(['alarm', (event as MessageEvent).lastEventId]))
  await waitFor('an alarm', () => seen.some(([type]) => type === 'alarm'))
  ticker.close()
  const alarmAt = seen.findIndex(([type]) => type === 'alarm')
  t.same(seen[alarmAt], ['alarm', seen[alarmAt - 1]?.[1]], 'an event without an id keeps the last event id (spec)')

  // The stream ends after its last event; the client comes back with Last-Event-ID and gets a 204.
  const counter = new UndiciEventSource(`${url}/counter?until=3`)
  t.teardown(() => counter.close())
  const ids: string[] = []
  counter.addEventListener('count', (event) => ids.push((event as MessageEvent).lastEventId))
  await closedWithin(10_000, 'the 204 that stops the client', new Promise<void>(resolve => {
    counter.addEventListener('error', () => { if (counter.readyState === UndiciEventSource.CLOSED) resolve() })
  }))
  t.same(ids, ['1', '2', '3'])
  t.same(lastEventIds, [undefined, '3'], 'it reconnected once, with Last-Event-ID: 3')

  t.same(warnings.filter(warning => (warning as { code?: string }).code !== 'UNDICI-ES').map(String), [], 'no other process warning')
})

test('eventsource-parser over fetch: POST /chat streams the reply, then [DONE]', async (t) => {
  const { url } = await startDemo(t)
  const prompt = 'Tell me about fetch'
  const response = await fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ prompt })
  })
  t.equal(response.status, 200)
  let reply = ''
  let finished = false
  const events = response.body!
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
  for await (const event of events) {
    if (event.data === '[DONE]') {
      finished = true
      break
    }
    reply += JSON.parse(event.data).delta
  }
  t.ok(finished, 'the stream ended with [DONE]')
  t.equal(reply, replyFor(prompt))
})

test('eventsource-parser over fetch: aborting the request stops the generator on the server', async (t) => {
  const { url } = await startDemo(t, { tokenDelayMs: 30 })
  const controller = new AbortController()
  const response = await fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'a long answer, please' }),
    signal: controller.signal
  })
  let tokens = 0
  const events = response.body!
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
  await t.rejects(async () => {
    for await (const event of events) {
      if (event.data !== '[DONE]' && ++tokens === 3) controller.abort()
    }
  }, { name: 'AbortError' })
  const chat = await waitFor('the generator to stop', async () => {
    const { chat } = await (await fetch(`${url}/stats`)).json() as { chat: { running: number, completed: number, stopped: number } }
    return chat.running === 0 && chat
  })
  t.same(chat, { running: 0, completed: 0, stopped: 1 })
})

test('eventsource: a finished stream\'s end marker reaches an `end` listener, never onmessage; closing there stops the reconnects', async (t) => {
  const lastEventIds: Array<string | undefined> = []
  const { url } = await startDemo(t, { counterIntervalMs: 20 }, recordLastEventIds('/counter', lastEventIds))
  const source = new EventSource(`${url}/counter?until=3`)
  t.teardown(() => source.close())
  const counts: number[] = []
  let messages = 0
  source.addEventListener('count', (event) => counts.push(JSON.parse(event.data).n))
  source.onmessage = () => { messages++ }
  const ended = new Promise<string>(resolve => source.addEventListener('end', (event) => {
    source.close() // what typedEventSource does for a page
    resolve(event.data)
  }))
  t.equal(await closedWithin(10_000, 'the end marker', ended), '[DONE]')
  t.same(counts, [1, 2, 3])
  t.equal(messages, 0, 'the marker is a named event: onmessage never sees it')
  await new Promise(resolve => setTimeout(resolve, 600)) // three reconnection delays of the demo's retry
  t.same(lastEventIds, [undefined], 'one request: no reconnect')
})

test('curl: a finished stream ends with the end marker and curl exits 0; a stream cut by app.close() has none', async (t) => {
  const curl = requireProgram(t, 'curl', 'apt-get install -y curl')
  if (curl === undefined) return
  const { url, app } = await startDemo(t, { counterIntervalMs: 20 })
  const finished = await run(curl!, ['-sN', `${url}/counter?until=2`])
  t.equal(finished.code, 0)
  t.equal(finished.stdout, 'retry: 200\nevent: count\nid: 1\ndata: {"n":1,"resumedAfter":null}\n\nevent: count\nid: 2\ndata: {"n":2,"resumedAfter":null}\n\nevent: end\ndata: [DONE]\n\n')

  const cut = run(curl!, ['-sN', `${url}/counter`])
  await new Promise(resolve => setTimeout(resolve, 500))
  await app.close()
  const { code, stdout } = await cut
  t.equal(code, 0, 'the response ended cleanly')
  t.match(stdout, /^retry: 200\nevent: count\nid: 1\n/)
  t.notMatch(stdout, /event: end/, 'no end marker: a cut')
})

function run (program: string, args: string[]): Promise<{ code: number | null, stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { timeout: 10_000 }, (error, stdout) => {
      if (error !== null && typeof error.code !== 'number') reject(error)
      else resolve({ code: error === null ? 0 : error.code as number, stdout })
    })
  })
}
