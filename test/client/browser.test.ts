// The client in Chromium (headless, playwright-core) against the plugin: the page
// loads the client bundled by esbuild as an ES module, with TypeBox's checker,
// and the tests drive it with page.evaluate. The same behaviours as in Node:
// typed, checked events; resume after cuts with no gap and no duplicate; reset;
// the POST chat to [DONE], not re-posted after a break; stream-error; 401 without
// a retry; abort and break tearing the server's source down; a wrong payload;
// and typedEventSource over the browser's own EventSource.

import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { requireProgram } from '../helpers/programs.js'
import { waitFor } from '../helpers/wait.js'
import type { FastifyInstance } from 'fastify'
import { startClientTestServer, type ClientTestServer } from './helpers/app.js'

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

// What the page imports: the client, and TypeBox to declare and check its events.
const PAGE_BUNDLE_ENTRY = `
export * from './lib/client/index.ts'
export { Type } from '@sinclair/typebox'
export { Value } from '@sinclair/typebox/value'
`

// The page's schemas, the same as test/client/helpers/app.ts's (the page builds its own copy).
const PAGE = `<!doctype html><meta charset="utf-8"><title>client</title><script type="module">
  import * as client from '/client.js'
  const { Type } = client
  const Tick = Type.Object({ n: Type.Integer({ minimum: 1 }) })
  window.client = client
  window.schemas = {
    tickEvents: { tick: Tick, note: Type.String() },
    chatEvents: { message: Type.Object({ delta: Type.String() }) }
  }
  window.ready = true
</script>`

const chromiumPath = requireProgram(t, 'chromium', 'apt-get install -y chromium')
if (chromiumPath !== undefined) {
  let server: ClientTestServer
  let context: BrowserContext
  let page: Page
  let pageRoutes: (app: FastifyInstance) => void
  const pageErrors: string[] = []

  t.before(async () => {
    const bundle = await build({
      stdin: { contents: PAGE_BUNDLE_ENTRY, resolveDir: join(__dirname, '..', '..'), loader: 'ts' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent'
    })
    const script = bundle.outputFiles[0]!.text
    pageRoutes = (app) => {
      app.get('/page', async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE))
      app.get('/client.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(script))
      // Two ticks and the end marker, with a short retry: an EventSource left open would be back within 50 ms.
      app.get('/finite', async (_request, reply) => reply.sseStream([{ event: 'tick', id: 1, data: { n: 1 } }, { event: 'tick', id: 2, data: { n: 2 } }], { retry: 50 }))
    }
    server = await startClientTestServer(t, pageRoutes)
    const profile = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-client-'))
    t.teardown(() => rmSync(profile, { recursive: true, force: true }))
    context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS })
    t.teardown(() => context.close()) // before the server: teardowns run last-in first-out
    page = context.pages()[0] ?? await context.newPage()
    page.on('pageerror', (error) => pageErrors.push(String(error)))
    await page.goto(`${server.url}/page`)
    await page.waitForFunction(() => (globalThis as any).ready === true)
  })

  /** Runs `body` (browser code, as a string: the body of an async function) in the page. */
  const inPage = async (body: string): Promise<any> => page.evaluate(`(async () => { const { client, schemas } = window; ${body} })()`)

  /** The error a page's promise failed with, as { name, message, ...fields }. */
  const errorOf = (expression: string): string => `
    try { await (${expression}); return { name: 'no error' } }
    catch (error) { return { name: error.name, message: error.message, status: error.status, body: error.body, event: error.event, data: error.data } }`

  t.test('every event is decoded by its schema and checked; text stays text', async (t) => {
    const items = await inPage(`
      const items = []
      for await (const item of client.eventStream('/ticks?until=4&every=1', { events: schemas.tickEvents, validate: client.Value.Check })) items.push(item)
      return items`)
    t.same(items, [
      { event: 'tick', data: { n: 1 }, id: '1' },
      { event: 'tick', data: { n: 2 }, id: '2' },
      { event: 'tick', data: { n: 3 }, id: '3' },
      { event: 'note', data: '42' },
      { event: 'tick', data: { n: 4 }, id: '4' }
    ], 'the note "42" is text (an undefined id does not cross page.evaluate)')
  })

  t.test('the server cuts every stream; the page resumes with Last-Event-ID, no event lost or repeated', async (t) => {
    const before = server.requestsTo('/ticks').length
    await inPage(`
      window.ticks = []
      window.reading = (async () => {
        for await (const item of client.eventStream('/ticks?every=15', { events: schemas.tickEvents, validate: client.Value.Check, reconnect: { delay: 50 } })) {
          if (item.event === 'tick') window.ticks.push(item.data.n)
          if (window.ticks.length === 25) break
        }
      })()`)
    const ticks = async (): Promise<number[]> => page.evaluate('window.ticks') as Promise<number[]>
    for (const count of [5, 12]) {
      const deadline = Date.now() + 10_000
      while ((await ticks()).length < count && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      t.equal(server.cut(), 1, `cut after ${count} ticks`)
    }
    await inPage('await window.reading')
    t.same(await ticks(), Array.from({ length: 25 }, (_, i) => i + 1), 'every tick once, in order')
    const resumes = server.requestsTo('/ticks').slice(before).map(r => r.lastEventId)
    t.equal(resumes.length, 3, 'two reconnects')
    t.equal(resumes[0], undefined)
    t.ok(Number(resumes[1]) >= 5 && Number(resumes[2]) > Number(resumes[1]), `each with the last id seen: ${resumes.join(', ')}`)
  })

  t.test('reset arrives as an item, with the client\'s hubReset', async (t) => {
    const seen = await inPage(`
      const seen = []
      const stream = client.eventStream('/reset', { events: { ...schemas.tickEvents, reset: client.hubReset }, validate: client.Value.Check, reconnect: false })
      for await (const item of stream) seen.push(item.event + ':' + JSON.stringify(item.data) + ':' + stream.lastEventId)
      return seen`)
    t.same(seen, ['tick:{"n":1}:1', 'reset:{"reason":"history-lost"}:9-0', 'tick:{"n":10}:10'])
  })

  t.test('POST chat: ends at [DONE]; a broken connection fails the loop and the prompt is not re-posted', async (t) => {
    const answer = await inPage(`
      let answer = ''
      for await (const { data } of client.eventStream('/chat', { method: 'POST', body: { prompt: 'hi' }, events: schemas.chatEvents, validate: client.Value.Check, done: '[DONE]' })) answer += data.delta
      return answer`)
    t.equal(answer, 'hi0 hi1 hi2 hi3 hi4 ')
    await inPage(`
      window.deltas = []
      window.chat = (async () => {
        ${errorOf(`(async () => {
          for await (const { data } of client.eventStream('/chat', { method: 'POST', body: { prompt: 'once', tokens: 100, every: 20 }, events: schemas.chatEvents, validate: client.Value.Check, done: '[DONE]' })) window.deltas.push(data.delta)
        })()`)}
      })()`)
    const deadline = Date.now() + 10_000
    while ((await page.evaluate('window.deltas.length') as number) < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    t.equal(server.sever(), 1, 'the chat\'s connection is broken')
    const error = await inPage('return await window.chat')
    t.equal(error.name, 'TypeError', `fetch's network error: ${error.message}`)
    await new Promise(resolve => setTimeout(resolve, 300))
    t.equal(server.requestsTo('/chat').length, 2, 'no request was repeated')
  })

  t.test('stream-error throws SseStreamError with the exposed message; a 401 throws SseHttpError once; a wrong payload SseValidationError', async (t) => {
    t.match(await inPage(errorOf('(async () => { for await (const item of client.eventStream(\'/fails?expose=1\', { events: schemas.tickEvents, validate: client.Value.Check })) {} })()')),
      { name: 'SseStreamError', message: 'the model is overloaded' })
    t.match(await inPage(errorOf('(async () => { for await (const item of client.eventStream(\'/status/401\')) {} })()')),
      { name: 'SseHttpError', status: 401, body: '{"error":"status 401"}' })
    t.match(await inPage(errorOf('(async () => { for await (const item of client.eventStream(\'/wrong\', { events: schemas.tickEvents, validate: client.Value.Check })) {} })()')),
      { name: 'SseValidationError', event: 'tick', data: '{"n":"two"}' })
    await new Promise(resolve => setTimeout(resolve, 200))
    t.same([server.requestsTo('/fails').length, server.requestsTo('/status/401').length, server.requestsTo('/wrong').length], [1, 1, 1], 'none was retried')
  })

  t.test('abort and break tear the server\'s source down', async (t) => {
    const aborted = await inPage(`
      const controller = new AbortController()
      const seen = []
      ${errorOf(`(async () => {
        for await (const item of client.eventStream('/forever', { events: schemas.tickEvents, validate: client.Value.Check, signal: controller.signal })) {
          seen.push(item.data.n)
          if (seen.length === 3) controller.abort()
        }
      })()`).replace('return { name: error.name', 'return { seen, name: error.name')}`)
    t.match(aborted, { name: 'AbortError', seen: [1, 2, 3] })
    await waitFor(() => server.sources.forever?.finished === 1, 5000, 'the source\'s finally after the abort')
    await inPage(`
      for await (const item of client.eventStream('/forever', { events: schemas.tickEvents, validate: client.Value.Check })) {
        if (item.data.n === 2) break
      }`)
    await waitFor(() => server.sources.forever?.finished === 2, 5000, 'the source\'s finally after the break')
    t.same(server.sources.forever, { started: 2, finished: 2 })
  })

  t.test('typedEventSource over the browser\'s EventSource: typed listeners, failures to onError', async (t) => {
    const seen = await inPage(`
      const seen = []
      const source = new EventSource('/wrong')
      const typed = client.typedEventSource(source, schemas.tickEvents, { validate: client.Value.Check, onError: (error) => { seen.push(error.name + ':' + error.data); source.close() } })
      typed.on('tick', (tick, message) => seen.push('tick:' + tick.n))
      const deadline = Date.now() + 5000
      while (seen.length < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      return seen`)
    t.same(seen, ['tick:1', 'SseValidationError:{"n":"two"}'])
  })

  t.test('a finished source ends the loop after exactly one pass: no reconnect', async (t) => {
    const before = server.requestsTo('/ticks').length
    const ids = await inPage(`
      const ids = []
      for await (const item of client.eventStream('/ticks?until=3&every=1', { events: schemas.tickEvents, validate: client.Value.Check, reconnect: { delay: 20 } })) ids.push(item.id ?? '')
      await new Promise(resolve => setTimeout(resolve, 300)) // a reconnect would come within 20 ms
      return ids`)
    t.same(ids, ['1', '2', '3', ''], 'the ticks and the note')
    t.equal(server.requestsTo('/ticks').length - before, 1, 'one request: the end marker ended the loop')
  })

  t.test('typedEventSource closes the browser\'s EventSource at the end marker, so it does not reconnect', async (t) => {
    const before = server.requestsTo('/finite').length
    const seen = await inPage(`
      const seen = []
      const source = new EventSource('/finite')
      client.typedEventSource(source, schemas.tickEvents, { validate: client.Value.Check }).on('tick', (tick) => seen.push(tick.n))
      const deadline = Date.now() + 5000
      while (source.readyState !== EventSource.CLOSED && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
      await new Promise(resolve => setTimeout(resolve, 500)) // ten times the server's retry
      seen.push(source.readyState === EventSource.CLOSED ? 'closed' : 'open')
      return seen`)
    t.same(seen, [1, 2, 'closed'])
    t.equal(server.requestsTo('/finite').length - before, 1, 'one request')
  })

  t.test('app.close() while the page reads is a cut: the page reconnects to the next server on the same address and resumes', async (t) => {
    // The page of a server of its own, which is closed and replaced the way a deploy does.
    const first = await startClientTestServer(t, pageRoutes)
    const deployed = await context.newPage()
    t.teardown(() => deployed.close())
    deployed.on('pageerror', (error) => pageErrors.push(String(error)))
    await deployed.goto(`${first.url}/page`)
    await deployed.waitForFunction(() => (globalThis as any).ready === true)
    await deployed.evaluate(`(() => {
      const { client, schemas } = window
      window.ticks = []
      window.reading = (async () => {
        for await (const item of client.eventStream('/ticks?until=10&every=20', { events: schemas.tickEvents, validate: client.Value.Check, reconnect: { delay: 50 } })) {
          if (item.event === 'tick') window.ticks.push(item.data.n)
        }
        return 'ended'
      })()
    })()`)
    const deadline = Date.now() + 10_000
    while ((await deployed.evaluate('window.ticks.length') as number) < 3 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    await first.app.close()
    const second = await startClientTestServer(t, undefined, Number(new URL(first.url).port))
    t.equal(await deployed.evaluate('window.reading'), 'ended', 'the loop ended at the second server\'s end marker')
    t.same(await deployed.evaluate('window.ticks'), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'every tick once, in order, across the deploy')
    const resumed = second.requestsTo('/ticks').map(r => r.lastEventId)
    t.equal(resumed.length, 1, 'one request to the new server: no reconnect after its end marker')
    t.ok(Number(resumed[0]) >= 3, `it resumed with Last-Event-ID ${resumed[0]}`)
  })

  t.test('the page logged no errors', async (t) => {
    t.same(pageErrors, [])
  })
}
