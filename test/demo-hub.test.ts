// The demo's chat room in Chromium: two pages (two browser contexts, so that each
// has its own six connections) join the room backed by the memory hub, see each
// other's messages, survive "Drop all streams" with nothing lost or repeated, get
// what they missed after a short absence, and get `reset` and refetch after a
// long one (the demo keeps 20 events per room).

import t from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startDemo } from './helpers/demo.js'
import { waitFor } from './helpers/events.js'
import { requireProgram } from './helpers/programs.js'

/** What the page records in `window.demo.room` (see example/page.html). */
interface RoomState {
  state: string
  seqs: number[]
  received: number
  gaps: number
  duplicates: number
  resets: string[]
  refetches: number
  connections: number
  lastId: string | null
}

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

const chromiumPath = requireProgram(t, 'chromium', 'apt-get install -y chromium')
if (chromiumPath !== undefined) {
  let url = ''
  let browser: Browser
  const pages: Page[] = []
  const pageErrors: string[] = []

  t.before(async () => {
    const demo = await startDemo(t, { roomHistory: 20 })
    url = demo.url
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS })
    t.teardown(() => browser.close()) // before the server: teardowns run last-in first-out
    for (let i = 0; i < 2; i++) {
      const page = await (await browser.newContext()).newPage()
      page.on('pageerror', (error) => pageErrors.push(String(error)))
      page.on('console', (message) => { if (message.type() === 'error') pageErrors.push(message.text()) })
      await page.goto(url)
      pages.push(page)
    }
  })

  const room = async (page: Page): Promise<RoomState> => page.evaluate(() => (globalThis as any).demo.room)
  const until = async (page: Page, what: string, check: (state: RoomState) => boolean, timeoutMs = 10_000): Promise<RoomState> =>
    waitFor(what, async () => { const now = await room(page); return check(now) && now }, timeoutMs, 50)
  const say = async (page: Page, text: string): Promise<void> => {
    await page.fill('#room-text', text)
    await page.click('#room-send')
  }
  const post = async (text: string): Promise<void> => {
    const response = await fetch(`${url}/rooms/lobby/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'test', text }) })
    t.equal(response.status, 200)
  }
  const run = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

  t.test('two pages join the room and see each other\'s messages', async (t) => {
    const [a, b] = pages as [Page, Page]
    for (const page of pages) await page.click('#room-join')
    for (const page of pages) await until(page, 'the room to open', (s) => s.state === 'open')
    await say(a, 'hello from A')
    await until(b, 'A\'s message on B', (s) => s.seqs.includes(1))
    await say(b, 'hi from B')
    for (const page of pages) {
      const now = await until(page, 'both messages', (s) => s.seqs.length === 2)
      t.same(now.seqs, [1, 2])
    }
    t.match(await b.textContent('#room-messages'), /hello from A.*hi from B/)
    t.match(await a.textContent('#room-messages'), /hello from A.*hi from B/)
  })

  t.test('Drop all streams: both pages reconnect, nothing lost or shown twice (the page counts both)', async (t) => {
    const [a] = pages as [Page, Page]
    await a.click('#drop')
    await a.waitForSelector('#drop-result:has-text("dropped")')
    for (let i = 1; i <= 5; i++) await post(`while reconnecting ${i}`) // some land while the pages are away
    for (const page of pages) {
      const now = await until(page, 'the reconnect and the 5 messages', (s) => s.connections === 2 && s.seqs.length === 7)
      t.same(now.seqs, run(1, 7), 'every message once, in order')
      t.same([now.gaps, now.duplicates, now.resets], [0, 0, []], 'the page counted no loss, no repeat, no reset')
      t.equal(await page.textContent('#room-gaps'), '0')
      t.equal(await page.textContent('#room-duplicates'), '0')
    }
  })

  t.test('a page that leaves and comes back while the history still has its place gets what it missed', async (t) => {
    const [a, b] = pages as [Page, Page]
    await a.click('#room-join') // Leave
    await until(a, 'the page to leave', (s) => s.state === 'left')
    t.equal(await a.textContent('#room-join'), 'Come back')
    await say(b, 'while A is away 1')
    await say(b, 'while A is away 2')
    await until(b, 'B to see them', (s) => s.seqs.length === 9)
    await a.click('#room-join') // Come back, with ?after=<the id it had>
    const now = await until(a, 'the missed messages', (s) => s.seqs.length === 9)
    t.same(now.seqs, run(1, 9))
    t.same([now.gaps, now.duplicates, now.resets], [0, 0, []])
  })

  t.test('a page that comes back after the history moved on gets reset, shows it, and refetches the room', async (t) => {
    const [a, b] = pages as [Page, Page]
    await a.click('#room-join') // Leave
    await until(a, 'the page to leave', (s) => s.state === 'left')
    await b.click('#room-flood') // 30 messages: more than the 20 the room's history keeps
    await until(b, 'B to get the flood', (s) => s.seqs.length === 39)
    await a.click('#room-join') // Come back
    const after = await until(a, 'the reset and the refetch', (s) => s.resets.length === 1 && s.refetches === 1)
    await a.waitForSelector('#room-messages .notice')
    t.same(after.resets, ['history-lost'], 'one reset: the page\'s position was trimmed away')
    t.match(await a.textContent('#room-messages'), /flood 30 of 30/, 'the refetched room is shown')
    t.match(await a.textContent('#room-messages'), /could not resume \(history-lost\)/, 'the page says what happened')
    t.equal(await a.textContent('#room-resets'), '1')

    await say(b, 'after the reset')
    const live = await until(a, 'the next live message', (s) => s.seqs.includes(40))
    t.same([live.gaps, live.duplicates, live.resets.length], [0, 0, 1], 'live again: no loss, no repeat, no second reset')
    // B sent it, but its own copy comes back on its stream, maybe after A's did.
    const other = await until(b, 'the same message on the page that sent it', (s) => s.seqs.includes(40))
    t.same(other.seqs, run(1, 40), 'the page that stayed saw every message once')
    t.same([other.gaps, other.duplicates, other.resets], [0, 0, []])
  })

  t.test('no page error', async (t) => {
    t.same(pageErrors, [])
  })
}
