// The demo (example/) over real HTTP: each route does what the page relies on,
// and `npm start` (example/server.ts) listens where PORT/HOST say and prints its URL.

import { test } from 'tap'
import { spawn } from 'node:child_process'
import { appendFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import { replyFor, tokensOf } from '../example/model.js'
import { startDemo } from './helpers/demo.js'
import { EventStreamReader, takeEvents, waitFor } from './helpers/events.js'
import { useFreshConnections } from './helpers/fetch.js'
import { readEvents } from './helpers/server.js'

const json = { 'content-type': 'application/json' }

async function stats (url: string): Promise<{ chat: { running: number, completed: number, stopped: number }, openStreams: number }> {
  return (await fetch(`${url}/stats`)).json() as Promise<any>
}

test('GET / serves the page', async (t) => {
  const { url } = await startDemo(t)
  const response = await fetch(url)
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), /^text\/html/)
  const page = await response.text()
  for (const route of ['/events', '/ticker', '/chat', '/log', '/counter', '/drop']) {
    t.ok(page.includes(`'${route}'`), `the page uses ${route}`)
  }
})

test('the clock sends hello first, then the time, until the client leaves', async (t) => {
  const { url } = await startDemo(t)
  const response = await fetch(`${url}/events`)
  t.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  const events = await takeEvents(response, (events) => events.length >= 4)
  t.same(events.map(e => e.event), ['hello', 'time', 'time', 'time'])
  t.same(JSON.parse(events[0]!.data), { message: 'Hello from the server clock', intervalMs: 100 })
  const times = events.slice(1).map(e => JSON.parse(e.data) as { iso: string, epochMs: number })
  for (const time of times) {
    t.equal(new Date(time.iso).getTime(), time.epochMs, 'iso and epochMs agree')
    t.ok(Math.abs(Date.now() - time.epochMs) < 10_000, 'the time is now')
  }
  t.ok(times[2]!.epochMs - times[1]!.epochMs >= 90, 'one time event per interval')
  await waitFor('the stream to close after the client left', async () => (await stats(url)).openStreams === 0)
})

test('the ticker sends tick events with sequential ids and an alarm when the price leaves its band', async (t) => {
  const { url } = await startDemo(t)
  const events = await takeEvents(await fetch(`${url}/ticker`), (events) => events.some(e => e.event === 'alarm'))
  const ticks = events.filter(e => e.event === 'tick')
  t.same(ticks.map(e => e.id), ticks.map((_e, i) => String(i + 1)), 'ticks are numbered from 1')
  t.same(ticks.map(e => JSON.parse(e.data).seq), ticks.map((_e, i) => i + 1))
  t.same(events.map(e => e.event).filter(name => name !== 'tick' && name !== 'alarm'), [], 'only the declared names')
  const alarm = events.at(-1)!
  t.equal(alarm.event, 'alarm')
  t.equal(alarm.id, undefined, 'an alarm carries no id of its own')
  t.match(JSON.parse(alarm.data), { severity: 'high', seq: ticks.length, message: 'The price rose above its band' })

  const resumed = await takeEvents(await fetch(`${url}/ticker`, { headers: { 'last-event-id': '20' } }), (events) => events.length >= 1)
  t.equal(resumed[0]!.id, '21', 'a client that comes back with Last-Event-ID gets the next tick')
})

test('chat streams the reply token by token and ends with [DONE]', async (t) => {
  const { url } = await startDemo(t)
  const prompt = 'What is an event stream?'
  const response = await fetch(`${url}/chat`, { method: 'POST', headers: json, body: JSON.stringify({ prompt }) })
  t.equal(response.status, 200)
  const { events } = await readEvents(response)
  t.equal(events.at(-1)!.data, '[DONE]', 'the sentinel comes last')
  const tokens = events.slice(0, -1)
  t.same(tokens.map(e => e.event), tokens.map(() => undefined), 'tokens are unnamed (message) events')
  const deltas = tokens.map(e => JSON.parse(e.data).delta as string)
  t.same(deltas, tokensOf(replyFor(prompt)), 'one event per token, in order')
  t.ok(deltas.length > 20, 'the reply has many tokens')
  t.equal(deltas.join(''), replyFor(prompt))
  t.match(await stats(url), { chat: { running: 0, completed: 1, stopped: 0 } })
})

test('chat answers 400 with JSON, not a stream, for a body without a prompt', async (t) => {
  const { url } = await startDemo(t)
  for (const body of ['{}', '{"prompt":""}', 'not json']) {
    const response = await fetch(`${url}/chat`, { method: 'POST', headers: json, body })
    t.equal(response.status, 400, body)
    t.match(response.headers.get('content-type'), /^application\/json/)
    await response.arrayBuffer()
  }
  t.match(await stats(url), { chat: { running: 0, completed: 0, stopped: 0 } }, 'no generator was started')
})

test('aborting the chat request finalizes the token generator on the server', async (t) => {
  const { url } = await startDemo(t, { tokenDelayMs: 40 })
  const controller = new AbortController()
  const response = await fetch(`${url}/chat`, { method: 'POST', headers: json, body: JSON.stringify({ prompt: 'stop me' }), signal: controller.signal })
  const reader = new EventStreamReader(response)
  await reader.readUntil((events) => events.length >= 3)
  t.match(await stats(url), { chat: { running: 1 } }, 'the generator runs while the client reads')
  controller.abort()
  const after = await waitFor('the generator to finish', async () => {
    const { chat } = await stats(url)
    return chat.running === 0 && chat
  })
  t.same(after, { running: 0, completed: 0, stopped: 1 })
  t.ok(reader.events.length < tokensOf(replyFor('stop me')).length, 'the reply was cut short')
})

test('the log tail sends the last lines, then each line as it is written, with line numbers as ids', async (t) => {
  const logFile = join(t.testdir(), 'app.log')
  await writeFile(logFile, Array.from({ length: 12 }, (_v, i) => `line ${i + 1}`).join('\n') + '\n')
  const { url } = await startDemo(t, { logFile })
  const reader = new EventStreamReader(await fetch(`${url}/log`))
  t.teardown(() => reader.cancel())
  await reader.readUntil((events) => events.length >= 10)
  t.same(reader.events.map(e => [e.event, e.id, e.data]), Array.from({ length: 10 }, (_v, i) => ['line', String(i + 3), `line ${i + 3}`]), 'the last 10 lines first')

  const appended = await fetch(`${url}/log`, { method: 'POST', headers: json, body: JSON.stringify({ line: 'appended over HTTP' }) })
  t.equal(appended.status, 204)
  await reader.readUntil((events) => events.length >= 11)
  t.same(reader.events.at(-1), { event: 'line', id: '13', data: 'appended over HTTP' })

  // A writer that writes half a line: the event waits for the newline.
  await appendFile(logFile, 'half a ')
  await new Promise(resolve => setTimeout(resolve, 150))
  await appendFile(logFile, 'line\r\nand €uro signs\n')
  await reader.readUntil((events) => events.length >= 13)
  t.same(reader.events.slice(11).map(e => [e.id, e.data]), [['14', 'half a line'], ['15', 'and €uro signs']])
  t.equal(reader.events.length, 13, 'no partial line was sent')
})

test('the log tail resumes strictly after Last-Event-ID', async (t) => {
  const logFile = join(t.testdir(), 'app.log')
  await writeFile(logFile, Array.from({ length: 30 }, (_v, i) => `line ${i + 1}`).join('\n') + '\n')
  const { url } = await startDemo(t, { logFile })
  const events = await takeEvents(await fetch(`${url}/log`, { headers: { 'last-event-id': '5' } }), (events) => events.length >= 25)
  t.same(events.map(e => e.id), Array.from({ length: 25 }, (_v, i) => String(i + 6)), 'lines 6 to 30, once each')
  t.equal(events[0]!.data, 'line 6')
})

test('POST /log refuses a line with a line break', async (t) => {
  const { url } = await startDemo(t)
  const response = await fetch(`${url}/log`, { method: 'POST', headers: json, body: JSON.stringify({ line: 'one\nevent: two' }) })
  t.equal(response.status, 400)
  await response.arrayBuffer()
})

test('POST /drop ends the streams; coming back with Last-Event-ID continues with no gap or duplicate', async (t) => {
  const { url } = await startDemo(t)
  const first = new EventStreamReader(await fetch(`${url}/counter`))
  t.teardown(() => first.cancel())
  await first.readUntil((events) => events.length >= 3)
  t.same(first.retries, [200], 'the stream tells clients how soon to reconnect')

  const drop = await (await fetch(`${url}/drop`, { method: 'POST' })).json() as { dropped: number }
  t.equal(drop.dropped, 1, 'one stream was open')
  await first.readToEnd(5000)
  t.equal(first.error, undefined, 'the server ended the response cleanly')
  t.notOk(first.events.some(e => e.event === 'end'), 'without the end marker: a cut, not a finish')
  const seen = first.events.map(e => Number(e.id))
  t.same(seen, seen.map((_n, i) => i + 1), 'ids 1, 2, 3, ... in order')
  t.same(first.events.map(e => JSON.parse(e.data).resumedAfter), seen.map(() => null))

  const last = seen.at(-1)!
  const resumed = await takeEvents(await fetch(`${url}/counter`, { headers: { 'last-event-id': String(last) } }), (events) => events.length >= 3)
  t.same(resumed.map(e => Number(e.id)), [last + 1, last + 2, last + 3], 'the next ids, none skipped or repeated')
  t.same(resumed.map(e => JSON.parse(e.data)), [1, 2, 3].map(i => ({ n: last + i, resumedAfter: last })))
})

test('a finite counter answers 204 to a client that has seen every event', async (t) => {
  const { url } = await startDemo(t)
  const { events } = await readEvents(await fetch(`${url}/counter?until=3`))
  t.same(events.map(e => [e.event, e.id]), [['count', '1'], ['count', '2'], ['count', '3'], ['end', undefined]], 'the stream ends after its last event, with the end marker')
  const done = await fetch(`${url}/counter?until=3`, { headers: { 'last-event-id': '3' } })
  t.equal(done.status, 204, 'which tells EventSource to stop reconnecting')
  t.equal(done.headers.get('content-type'), null)
  const partly = await readEvents(await fetch(`${url}/counter?until=3`, { headers: { 'last-event-id': '1' } }))
  t.same(partly.events.map(e => e.id), ['2', '3', undefined])
})

test('npm start: example/server.ts listens on PORT and HOST and prints the URL', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'example', 'server.ts')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_FILE: join(t.testdir(), 'app.log') },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const exited = once(child, 'exit')
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const closeConnections = useFreshConnections(t)

  const url = await waitFor('the URL on stdout', () => /http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[0], 20_000)
  t.match(output, /open http:\/\/127\.0\.0\.1:\d+ in a browser/)
  const page = await fetch(url)
  t.equal(page.status, 200)
  await page.arrayBuffer()
  const events = await takeEvents(await fetch(`${url}/events`), (events) => events.length >= 2)
  t.same(events.map(e => e.event), ['hello', 'time'])

  await closeConnections()
  const stopping = Date.now()
  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'SIGTERM closes the server and the process exits on its own')
  t.ok(Date.now() - stopping < 5000, 'promptly')
  t.notMatch(output, /error/i, 'nothing went wrong on the way')
})
