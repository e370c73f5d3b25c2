// Chromium's own EventSource bounced between two instances by nginx round-robin:
// every cut makes the browser reconnect (with its Last-Event-ID) to the other
// instance, and the page still gets every event once, in order.

import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { waitFor } from '../helpers/events.js'
import { startNginx } from '../helpers/nginx.js'
import { requireProgram } from '../helpers/programs.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { firstBreak, post, range, startInstance } from './helpers.js'

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

interface PageState { received: number[], resets: string[], opens: number }

const redisPath = requireRedisServer(t)
const nginxPath = requireProgram(t, 'nginx', 'apt-get install -y nginx')
const chromiumPath = requireProgram(t, 'chromium', 'apt-get install -y chromium')

if (redisPath !== undefined && nginxPath !== undefined && chromiumPath !== undefined) {
  t.test('a browser bounced between two instances behind nginx never misses or repeats an event', async (t) => {
    const redis = await startRedis(t, redisPath)
    const [a, b] = await Promise.all([1, 2].map(() => startInstance(t, redis.url)))
    const nginx = await startNginx(t, nginxPath, { upstreamPort: [a!, b!].map(instance => Number(new URL(instance.url).port)) })

    const profile = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-chromium-'))
    t.teardown(() => rmSync(profile, { recursive: true, force: true }))
    const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS })
    t.teardown(() => context.close())
    const page = context.pages()[0] ?? await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(String(error)))
    await page.goto(nginx.url)
    await page.evaluate(() => {
      const state = { received: [] as number[], resets: [] as string[], opens: 0 }
      ;(globalThis as any).state = state
      const source = new EventSource('/rooms/browser/events')
      source.addEventListener('open', () => { state.opens++ })
      source.addEventListener('message', (event) => { state.received.push(JSON.parse(event.data).n) })
      source.addEventListener('reset', (event) => { state.resets.push((event as MessageEvent).data) })
    })
    const state = async (): Promise<PageState> => await page.evaluate(() => (globalThis as any).state)
    const openStreams = async (): Promise<number> => (await Promise.all([a!, b!].map(async instance =>
      (await (await fetch(`${instance.url}/stats`)).json() as { open: number }).open))).reduce((x, y) => x + y)

    const rounds = 6
    const perRound = 100
    for (let round = 0; round < rounds; round++) {
      await waitFor(`the browser's connection ${round + 1}`, async () => (await state()).opens === round + 1 && await openStreams() === 1, 15_000)
      const burst = post(`${a!.url}/rooms/browser/burst?count=${perRound}&start=${round * perRound}`)
      await waitFor(`part of round ${round + 1}`, async () => (await state()).received.length >= round * perRound + 30, 15_000)
      await Promise.all([a!, b!].map(instance => post(`${instance.url}/drop`)))
      t.equal((await burst).status, 200)
    }
    const total = rounds * perRound
    const final = await waitFor(`all ${total} events in the page`, async () => { const now = await state(); return now.received.length >= total && now.opens === rounds + 1 && now }, 20_000, 50)
    t.same(final.received, range(0, total), `every event once, in order (${firstBreak(final.received, 0)})`)
    t.same(final.resets, [], 'no reset')
    t.equal(final.opens, rounds + 1, 'the browser reconnected after every cut')
    const served = await Promise.all([a!, b!].map(async instance => (await (await fetch(`${instance.url}/stats`)).json() as { served: number }).served))
    t.ok(served[0]! >= 2 && served[1]! >= 2, `both instances served the browser (${served.join(' and ')} streams)`)
    t.same(pageErrors, [])
  })
}
