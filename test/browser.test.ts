// The demo page in a real browser: Chromium (headless) driven by playwright-core.
// The page's EventSources get the clock and the named events, its typed client
// gets the chat tokens, Stop finalizes the generator on the server, a server-side
// drop is survived with no event lost or repeated, and a page on another origin
// reads a stream with credentials through @fastify/cors.

import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import http from 'node:http'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createParser } from 'eventsource-parser'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { replyFor, tokensOf } from '../example/model.js'
import { startDemo } from './helpers/demo.js'
import { waitFor } from './helpers/events.js'
import { requireProgram } from './helpers/programs.js'

/** What the page records in `window.demo` (see example/page.html). */
interface PageState {
  states: Record<string, string>
  stateChanges: Record<string, string[]>
  clock: { hello: { message: string } | null, times: number, connections: number }
  ticker: { ticks: Array<{ seq: number }>, alarms: Array<{ severity: string, seq: number }> }
  chat: { state: string, text: string, tokens: number, running: number, stopped: number }
  log: { ids: number[], gaps: number, duplicates: number }
  counter: { last: number, received: number, gaps: number, duplicates: number, reconnects: number, resumes: Array<{ lastSeen: number, resumedAfter: number | null, next: number }> }
}

const SCREENSHOT = join(__dirname, '..', 'test-output', 'demo-page.png')
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

const chromiumPath = requireProgram(t, 'chromium', 'apt-get install -y chromium')
if (chromiumPath !== undefined) {
  let demoUrl = ''
  let context: BrowserContext
  let page: Page
  const pageErrors: string[] = []
  const streamRequests: Array<{ origin: string | undefined, cookie: string | undefined }> = []
  const otherOrigins = { allowed: '', refused: '' }

  t.before(async () => {
    // Two more origins (other ports) that serve a page reading the demo's clock with credentials.
    otherOrigins.allowed = await serveCrossOriginPage(() => `${demoUrl}/events`)
    otherOrigins.refused = await serveCrossOriginPage(() => `${demoUrl}/events`)

    const demo = await startDemo(t, {
      clockIntervalMs: 200,
      tickerIntervalMs: 60,
      counterIntervalMs: 150,
      tokenDelayMs: 25,
      retryMs: 300,
      corsOrigins: [otherOrigins.allowed]
    }, (app) => app.addHook('onRequest', async (request) => {
      if (request.url === '/events') streamRequests.push({ origin: request.headers.origin, cookie: request.headers.cookie })
    }))
    demoUrl = demo.url

    const profile = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-chromium-'))
    t.teardown(() => rmSync(profile, { recursive: true, force: true }))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 }
    })
    t.teardown(() => context.close()) // before the servers: teardowns run last-in first-out
    page = context.pages()[0] ?? await context.newPage()
    page.on('pageerror', (error) => pageErrors.push(String(error)))
    page.on('console', (message) => { if (message.type() === 'error') pageErrors.push(message.text()) })
    await page.goto(demoUrl)
  })

  const state = async (): Promise<PageState> => page.evaluate(() => (globalThis as any).demo)
  const until = async (what: string, check: (state: PageState) => boolean, timeoutMs = 10_000): Promise<PageState> =>
    waitFor(what, async () => { const now = await state(); return check(now) && now }, timeoutMs, 50)
  const serverStats = async (): Promise<{ chat: { running: number, completed: number, stopped: number } }> =>
    (await fetch(`${demoUrl}/stats`)).json() as Promise<any>

  t.test('the page receives the clock and the named events, each stream open', async (t) => {
    const now = await until('the clock, an alarm, and every stream open', (s) =>
      s.clock.times >= 2 && s.ticker.alarms.length >= 1 && Object.keys(s.states).length === 4 && Object.values(s.states).every(state => state === 'open'))
    t.same(now.states, { clock: 'open', ticker: 'open', log: 'open', counter: 'open' })
    t.equal(now.clock.hello?.message, 'Hello from the server clock')
    t.match(await page.textContent('#clock-time'), /^\d\d:\d\d:\d\d$/, 'the time is shown')
    t.same(now.ticker.ticks.map(tick => tick.seq), now.ticker.ticks.map((_tick, i) => i + 1), 'every tick, in order')
    t.match(now.ticker.alarms[0], { severity: 'high' })
    t.ok(await page.locator('#alarm-list .alarm.high').count() >= 1, 'an alarm is shown as an alarm')
    t.ok(await page.locator('#ticker-bars span').count() >= 1, 'ticks are shown as bars')
    t.same(await page.locator('.badge[data-state="open"]').count(), 4, 'four badges say open')
  })

  t.test('chat: the reply renders token by token and [DONE] ends it', async (t) => {
    const prompt = 'How does the browser read a POST stream?'
    await page.fill('#chat-prompt', prompt)
    await page.click('#chat-send')
    const midway = await until('the first tokens', (s) => s.chat.tokens >= 3)
    t.equal(midway.chat.state, 'streaming', 'tokens show while the reply is still streaming')
    const done = await until('the end of the reply', (s) => s.chat.state !== 'streaming')
    t.equal(done.chat.state, 'done', 'the [DONE] sentinel was seen')
    t.equal(done.chat.text, replyFor(prompt))
    t.equal(await page.textContent('#chat-answer'), replyFor(prompt))
    t.equal(await page.locator('#chat-answer .token').count(), tokensOf(replyFor(prompt)).length, 'one span per token')
    t.match(await serverStats(), { chat: { running: 0, completed: 1, stopped: 0 } })
  })

  t.test('chat: Stop aborts the request and the generator on the server is finalized', async (t) => {
    const prompt = 'Please stop me'
    await page.fill('#chat-prompt', prompt)
    await page.click('#chat-send')
    await until('the first tokens', (s) => s.chat.tokens >= 3)
    await page.click('#chat-stop')
    const stopped = await until('the stop', (s) => s.chat.state !== 'streaming')
    t.equal(stopped.chat.state, 'stopped')
    t.ok(stopped.chat.tokens < tokensOf(replyFor(prompt)).length, 'the reply was cut short')
    const { chat } = await waitFor('the server to finalize the generator', async () => {
      const stats = await serverStats()
      return stats.chat.running === 0 && stats
    })
    t.same(chat, { running: 0, completed: 1, stopped: 1 })
    const shown = await until('the page to show it', (s) => s.chat.stopped === 1 && s.chat.running === 0)
    t.equal(shown.chat.stopped, 1)
    t.equal(await page.textContent('#chat-running'), '0')
  })

  t.test('after a server-side drop every EventSource reconnects with Last-Event-ID; no event lost or shown twice', async (t) => {
    await page.fill('#log-input', 'before the drop')
    await page.click('#log-form button')
    const before = await until('counter events and the log line', (s) => s.counter.last >= 3 && s.log.ids.length >= 1)
    t.equal(before.counter.reconnects, 0)

    await page.click('#drop')
    await page.waitForSelector('#drop-result:has-text("dropped 4 streams")')
    const after = await until('a reconnect and more events', (s) =>
      s.counter.resumes.length >= 1 && s.counter.last >= s.counter.resumes[0]!.next + 2 &&
      Object.values(s.states).every(state => state === 'open'))
    await page.fill('#log-input', 'after the drop')
    await page.click('#log-form button')
    const final = await until('the next log line', (s) => s.log.ids.length >= after.log.ids.length + 1)

    const [resume] = after.counter.resumes
    t.equal(after.counter.reconnects, 1, 'the counter reconnected once')
    t.equal(resume!.resumedAfter, resume!.lastSeen, 'the server read the last id the page had seen from Last-Event-ID')
    t.equal(resume!.next, resume!.lastSeen + 1, 'and went on with the next one')
    t.equal(final.counter.gaps, 0, 'no event lost')
    t.equal(final.counter.duplicates, 0, 'no event shown twice')
    t.equal(await page.textContent('#counter-gaps'), '0')
    t.equal(await page.textContent('#counter-duplicates'), '0')
    t.equal(final.clock.connections, 2, 'the clock reconnected too')
    for (const name of ['clock', 'ticker', 'log', 'counter']) {
      t.same(final.stateChanges[name], ['connecting', 'open', 'reconnecting', 'open'], `the ${name} badge showed the reconnect`)
    }
    t.same(final.log.ids, final.log.ids.map((_id, i) => final.log.ids[0]! + i), 'the log tail resumed without gap or repeat')
    t.same([final.log.gaps, final.log.duplicates], [0, 0])

    mkdirSync(join(SCREENSHOT, '..'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    t.ok(statSync(SCREENSHOT).size > 10_000, `screenshot saved to ${join('test-output', 'demo-page.png')}`)
  })

  t.test('Close and Open: the badge says closed, then open again', async (t) => {
    await page.click('[data-toggle="clock"]')
    t.equal(await page.textContent('#clock-state'), 'closed')
    t.equal(await page.textContent('[data-toggle="clock"]'), 'Open')
    const times = (await state()).clock.times
    await page.waitForTimeout(600) // three clock intervals
    t.equal((await state()).clock.times, times, 'a closed EventSource gets nothing')
    await page.click('[data-toggle="clock"]')
    const reopened = await until('the clock to open again', (s) => s.states.clock === 'open' && s.clock.times > times)
    t.same(reopened.stateChanges.clock!.slice(-3), ['closed', 'connecting', 'open'])
  })

  t.test('a page on another origin reads the clock with withCredentials through @fastify/cors', async (t) => {
    const other = await context.newPage()
    t.teardown(() => other.close())
    await other.goto(otherOrigins.allowed)
    await other.waitForFunction(() => (globalThis as any).received.length >= 2, undefined, { timeout: 10_000 })
    const seen = await other.evaluate(() => ({ received: (globalThis as any).received, withCredentials: (globalThis as any).source.withCredentials }))
    t.same(seen.received.slice(0, 2).map((event: [string, string]) => event[0]), ['hello', 'time'])
    t.equal(seen.withCredentials, true)
    const request = streamRequests.find(request => request.origin === otherOrigins.allowed)
    t.ok(request, 'the request came from the other origin')
    t.match(request?.cookie, /other-origin-session=1/, 'with its cookie: credentials were included')
  })

  t.test('a page on an origin that is not allowed gets no events', async (t) => {
    const other = await context.newPage()
    t.teardown(() => other.close())
    await other.goto(otherOrigins.refused)
    await other.waitForFunction(() => (globalThis as any).errors >= 1, undefined, { timeout: 10_000 })
    await other.waitForTimeout(500)
    const seen = await other.evaluate(() => ({ received: (globalThis as any).received, readyState: (globalThis as any).source.readyState }))
    t.same(seen.received, [], 'the browser hid the stream from the page')
    t.equal(seen.readyState, 2, 'and closed the EventSource')
    t.ok(streamRequests.some(request => request.origin === otherOrigins.refused), 'although the request reached the server')
  })

  t.test('the page\'s client (/client.js, the chat\'s fetch consumer) reads what eventsource-parser reads, however the bytes are split', async (t) => {
    const stream = [
      ': a comment, such as the heartbeat\n',
      'data: crlf\r\ndata: lines\r\n\r\n',
      'event: tick\ndata:  two spaces\rid: 7\r\r',
      'data\n\n', // a field name without a colon: empty data
      'event: only\n\n', // no data: nothing is dispatched
      'data: {"delta":"€ and 👋"}\nid: x\u0000y\n\n', // an id with NUL is ignored
      'retry: 300\nDATA: field names are case-sensitive\ndata: last\n\n',
      'data: unterminated'
    ].join('')
    const expected: Array<{ type: string, data: string, lastEventId: string }> = []
    let lastEventId = ''
    const reference = createParser({
      onEvent: (event) => {
        if (event.id !== undefined) lastEventId = event.id
        expected.push({ type: event.event ?? 'message', data: event.data, lastEventId })
      }
    })
    reference.feed(stream)
    t.equal(expected.length, 5, 'the reference saw five events')

    // Browser code, as a string: the page's client reads the bytes whole, a byte at a time, and cut in two at every position.
    const splits = await page.evaluate(`(async () => {
      const { eventStream } = await import('/client.js')
      const bytes = new TextEncoder().encode(${JSON.stringify(stream)})
      async function parse (chunks) {
        const body = new ReadableStream({ start (controller) { for (const chunk of chunks) controller.enqueue(chunk); controller.close() } })
        const fetch = async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } })
        const events = []
        const reader = eventStream('/parse', { fetch, reconnect: false })
        for await (const event of reader) events.push({ type: event.event, data: event.data, lastEventId: reader.lastEventId })
        return events
      }
      const results = [await parse([bytes]), await parse([...bytes].map((byte) => new Uint8Array([byte])))]
      for (let i = 1; i < bytes.length; i++) results.push(await parse([bytes.slice(0, i), bytes.slice(i)]))
      return results
    })()`) as unknown[][]
    t.ok(splits.every(events => JSON.stringify(events) === JSON.stringify(expected)), `the same ${expected.length} events in all ${splits.length} ways of splitting the text`)
  })

  t.test('the demo page logged no errors', async (t) => {
    t.same(pageErrors, [])
  })
}

/** Serves, on a new loopback port (another origin), a page that opens an EventSource with credentials. */
async function serveCrossOriginPage (streamUrl: () => string): Promise<string> {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end(`<!doctype html><meta charset="utf-8"><title>another origin</title><script>
      document.cookie = 'other-origin-session=1; path=/'
      window.received = []
      window.errors = 0
      window.source = new EventSource(${JSON.stringify(streamUrl())}, { withCredentials: true })
      for (const type of ['hello', 'time']) source.addEventListener(type, (event) => received.push([type, event.data]))
      source.addEventListener('error', () => { errors++ })
    </script>`)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}
