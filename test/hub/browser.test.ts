// The hub with Chromium's own EventSource (a WHATWG parser): the position item
// sets the last event id without dispatching an event, so a page that drops before
// its first event resumes from it; drops lose and repeat nothing; a reset moves
// the page's last event id forward.

import t, { type Test } from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import { requireProgram } from '../helpers/programs.js'
import { waitFor as until } from '../helpers/events.js'
import { waitFor } from '../helpers/wait.js'
import { startHubApp, type HubApp } from './helpers.js'

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

interface Seen {
  opens: number
  events: Array<{ type: string, id: string, data: string }>
}

const chromiumPath = requireProgram(t, 'chromium', 'apt-get install -y chromium')
if (chromiumPath !== undefined) {
  let browser: Browser
  t.before(async () => {
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS })
  })
  t.teardown(() => browser?.close())

  /** A page on the app's origin with one EventSource on `path`, recording what it dispatches. */
  async function openPage (t: Test, hubApp: HubApp, path: string): Promise<{ page: Page, seen: () => Promise<Seen> }> {
    const context = await browser.newContext()
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(hubApp.url)
    await page.evaluate((path) => {
      const seen: Seen = (globalThis as any).seen = { opens: 0, events: [] }
      const source = (globalThis as any).source = new EventSource(path)
      source.addEventListener('open', () => { seen.opens++ })
      for (const type of ['message', 'typing', 'reset']) {
        source.addEventListener(type, (event) => seen.events.push({ type, id: (event as MessageEvent).lastEventId, data: (event as MessageEvent).data }))
      }
    }, path)
    return { page, seen: async () => page.evaluate(() => (globalThis as any).seen as Seen) }
  }

  const text = (n: number) => ({ event: 'message' as const, data: { n, text: `message ${n}` } })

  t.test('the position item sets the last event id and dispatches nothing: a page that drops before its first event resumes from it', async (t) => {
    const hubApp = await startHubApp(t)
    for (let n = 1; n < 4; n++) await hubApp.hub.publish('room', text(n))
    const newest = await hubApp.hub.publish('room', text(4))
    const { seen } = await openPage(t, hubApp, '/topics/room/events')
    await waitFor(() => hubApp.lastEventIds.length === 1, 10_000, 'the stream request')
    await new Promise(resolve => setTimeout(resolve, 300))
    t.same((await seen()).events, [], 'no event dispatched')

    t.equal(hubApp.drop(), 1)
    const missed = await hubApp.hub.publish('room', text(5)) // while the page is away
    await waitFor(() => hubApp.lastEventIds.length === 2, 10_000, 'the reconnect')
    t.equal(hubApp.lastEventIds[1], newest, 'Chromium reconnected with the position as Last-Event-ID')
    const now = await until('the missed event', async () => { const s = await seen(); return s.events.length === 1 && s }, 10_000, 50)
    t.same(now.events, [{ type: 'message', id: missed, data: JSON.stringify({ n: 5, text: 'message 5' }) }], 'the event published while it was away, once')
  })

  t.test('drops while events are published: every event once, in order', async (t) => {
    const hubApp = await startHubApp(t)
    const { seen } = await openPage(t, hubApp, '/topics/room/events')
    await waitFor(() => hubApp.lastEventIds.length === 1, 10_000, 'the stream request')
    let n = 0
    for (let round = 1; round <= 3; round++) {
      await waitFor(() => hubApp.lastEventIds.length === round, 10_000, `the stream to be open (round ${round})`)
      await new Promise(resolve => setTimeout(resolve, 100))
      for (let i = 0; i < 40; i++) {
        await hubApp.hub.publish('room', text(++n))
        if (i === 20) hubApp.drop()
      }
    }
    await until(`all ${n} events`, async () => { const s = await seen(); return s.events.length >= n && s }, 15_000, 50)
    await new Promise(resolve => setTimeout(resolve, 200))
    const numbers = (await seen()).events.map(event => JSON.parse(event.data).n as number)
    t.same(numbers, Array.from({ length: n }, (_, i) => i + 1), 'no gap, no duplicate')
    t.equal(hubApp.lastEventIds.length, 4, 'three reconnects')
  })

  t.test('a reset moves the page\'s last event id forward; the reconnect reports no second gap', async (t) => {
    const hubApp = await startHubApp(t)
    const current = await hubApp.hub.publish('room', text(1))
    const { seen } = await openPage(t, hubApp, '/topics/room/events?after=bogus')
    const now = await until('the reset', async () => { const s = await seen(); return s.events.length === 1 && s }, 10_000, 50)
    t.same(now.events, [{ type: 'reset', id: current, data: '{"reason":"unknown-id"}' }])
    hubApp.drop()
    await waitFor(() => hubApp.lastEventIds.length === 2, 10_000, 'the reconnect')
    t.equal(hubApp.lastEventIds[1], current, 'the reconnect carried the reset\'s id')
    await until('the stream to reopen', async () => (await seen()).opens === 2, 10_000, 50)
    const live = await hubApp.hub.publish('room', text(2))
    const after = await until('the live event', async () => { const s = await seen(); return s.events.length === 2 && s }, 10_000, 50)
    t.same(after.events[1], { type: 'message', id: live, data: JSON.stringify({ n: 2, text: 'message 2' }) }, 'then live events, and no second reset')
  })
}
