// Redis blackholed for 60 s (iptables drops every packet to and from its port: no
// RST, no FIN, the connections look open) while streams are open and an instance
// keeps publishing. During it: publishes reject with FST_SSE_HUB_UNAVAILABLE within
// publishTimeoutMs, open streams keep their heartbeats, a new subscription ends with
// the failure event, the readiness route says 503. After it: the instances' Redis
// connections are back (publish works, the subscriber connections are new ones)
// within the bound the README states, and every client has every acknowledged
// event once, in order.

import t from 'tap'
import Redis from 'ioredis'
import { EventStreamReader, waitFor } from '../helpers/events.js'
import { dropPort, leftoverRules, requireIptables } from '../helpers/iptables.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { post, record } from '../redis/helpers.js'
import { checkClient, recordTyped, startApp } from './helpers.js'

t.setTimeout(300_000)
const redisPath = requireRedisServer(t)
const iptables = requireIptables(t)

const BLACKHOLE_MS = 60_000
const PUBLISH_TIMEOUT_MS = 2000
/** How long after the heal the instances must publish, be ready and deliver again (the README's bound). */
const RECOVERY_BOUND_MS = 15_000

/** Polls `probe` every 250 ms until it holds; resolves with the ms it took, or rejects after `timeoutMs`. */
async function timeUntil (what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (!await probe().catch(() => false)) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  return Date.now() - started
}

if (redisPath !== undefined && iptables !== undefined) {
  t.test('Redis blackholed for 60 s while streams are open and publishing goes on', async (t) => {
    const redis = await startRedis(t, redisPath)
    const env = { HEARTBEAT_MS: '1000', PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS), HISTORY: '5000' }
    const [a, b] = await Promise.all([startApp(t, redis.url, env), startApp(t, redis.url, env)])
    const clients = {
      'eventsource on A': record(t, '/rooms/bh/events', () => a!.url),
      'eventsource on B': record(t, '/rooms/bh/events', () => b!.url),
      'typed client on A': recordTyped(t, '/rooms/bh/events', () => a!.url),
      'typed client on B': recordTyped(t, '/rooms/bh/events', () => b!.url)
    }
    const heartbeats = new EventStreamReader(await fetch(`${a!.url}/rooms/bh/events`))
    t.teardown(() => heartbeats.cancel())
    const open = async (url: string): Promise<number> => ((await (await fetch(url + '/stats')).json()) as { stats: { open: number } }).stats.open
    await waitFor('every stream open', async () => await open(a!.url) === 3 && await open(b!.url) === 2, 15_000)
    t.equal((await fetch(`${a!.url}/ready`)).status, 200, 'ready before')

    await post(`${b!.url}/rooms/bh/loop`, { rate: 20 })
    await waitFor('events on every client', () => Object.values(clients).every(c => c.messages.length >= 10), 15_000)

    const drop = await dropPort(t, redis.port)
    const blackholed = Date.now()
    t.comment(`Redis port ${redis.port} blackholed: ${drop.rules.join('; ')}`)

    // During the blackhole.
    const publishStarted = performance.now()
    const refused = await post(`${a!.url}/rooms/side/messages`, { n: 0 })
    const publishTook = performance.now() - publishStarted
    t.equal(refused.status, 503, 'a publish fails')
    t.equal(refused.body.code, 'FST_SSE_HUB_UNAVAILABLE')
    t.ok(publishTook < PUBLISH_TIMEOUT_MS + 1500, `within publishTimeoutMs (${Math.round(publishTook)} ms)`)

    const freshStarted = performance.now()
    const fresh = new EventStreamReader(await fetch(`${a!.url}/rooms/fresh/events`))
    const freshEvents = await fresh.readToEnd(PUBLISH_TIMEOUT_MS + 8000)
    const freshTook = performance.now() - freshStarted
    t.equal(freshEvents.at(-1)?.event, 'stream-error', 'a new subscription to a topic the instance does not read ends with the failure event')
    t.ok(freshTook < PUBLISH_TIMEOUT_MS + 3000, `in ${Math.round(freshTook)} ms`)

    const notReady: Record<string, number> = {}
    for (const [name, app] of [['A', a!], ['B', b!]] as const) {
      notReady[name] = await timeUntil(`${name} not ready`, async () => (await fetch(`${app.url}/ready`)).status === 503, 20_000)
        .catch((err: Error) => { t.fail(err.message); return NaN })
    }
    const readiness = await (await fetch(`${a!.url}/ready`)).json()
    t.comment(`readiness during the blackhole: 503 after ${notReady.A} ms (A), ${notReady.B} ms (B) of it: ${JSON.stringify(readiness)}`)

    const before = heartbeats.comments.length
    await heartbeats.readUntil(() => heartbeats.comments.length >= before + 10, 30_000)
    t.notOk(heartbeats.ended, 'the open stream keeps its heartbeats')

    await new Promise(resolve => setTimeout(resolve, Math.max(0, blackholed + BLACKHOLE_MS - Date.now())))
    await drop.remove()
    const healed = Date.now()
    t.same(leftoverRules(), [], 'no iptables rule of this test is left')
    t.comment(`healed after ${healed - blackholed} ms`)

    // After the heal: publishing, readiness and live delivery on each instance.
    const back: Record<string, number> = {}
    const measure = (what: string, probe: () => Promise<boolean>): Promise<void> =>
      timeUntil(what, probe, 90_000).then(ms => { back[what] = ms }, () => { back[what] = NaN })
    await Promise.all([
      measure('publish on A', async () => (await post(`${a!.url}/rooms/side/messages`, { n: 1 })).status === 200),
      measure('publish on B', async () => (await post(`${b!.url}/rooms/side/messages`, { n: 2 })).status === 200),
      measure('A ready', async () => (await fetch(`${a!.url}/ready`)).status === 200),
      measure('B ready', async () => (await fetch(`${b!.url}/ready`)).status === 200),
      ...Object.entries(clients).map(([name, client]) =>
        measure(`${name} gets new events`, async () => client.messages.some(m => Number(m.from) >= healed)))
    ])
    t.comment(`after the heal (ms; null: not within 90 s): ${JSON.stringify(back)}`)
    for (const [what, ms] of Object.entries(back)) t.ok(ms <= RECOVERY_BOUND_MS, `${what} within ${RECOVERY_BOUND_MS} ms of the heal (${ms} ms)`)
    const readyAfter = await (await fetch(`${a!.url}/ready`)).json()
    t.comment(`readiness after the heal: ${JSON.stringify(readyAfter)}`)

    // The subscriber connections that lived through the blackhole were found dead and replaced.
    const admin = new Redis(redis.port, '127.0.0.1')
    t.teardown(() => { admin.disconnect() })
    const subscribers = async (): Promise<string[]> =>
      ((await admin.client('LIST')) as string).split('\n').filter(line => / sub=[1-9]/.test(line))
    const replaced = await waitFor('only subscriber connections made after the blackhole began', async () => {
      const lines = await subscribers()
      const oldest = Math.max(0, ...lines.map(line => Number(/ age=(\d+)/.exec(line)?.[1])))
      return lines.length === 2 && oldest * 1000 < Date.now() - blackholed - 1000
    }, RECOVERY_BOUND_MS).then(() => true, () => false)
    t.ok(replaced, `each instance has one subscriber connection, made after the blackhole began (${(await subscribers()).map(line => /age=\d+/.exec(line)?.[0]).join(', ')}; ${Math.round((Date.now() - blackholed) / 1000)} s since it began)`)

    await new Promise(resolve => setTimeout(resolve, 2000))
    const loop = (await (await fetch(`${b!.url}/rooms/bh/loop?stop=1`)).json()) as { next: number, pending: number, rejected: Array<{ n: number, ms: number, code: string }> }
    const slowest = Math.max(...loop.rejected.map(r => r.ms))
    t.ok(loop.rejected.length > 0 && loop.rejected.every(r => r.code === 'FST_SSE_HUB_UNAVAILABLE'), `${loop.rejected.length} of ${loop.next} publishes rejected, all FST_SSE_HUB_UNAVAILABLE`)
    t.ok(slowest < PUBLISH_TIMEOUT_MS + 1000, `each within publishTimeoutMs (slowest ${Math.round(slowest)} ms)`)
    const outcomes = { next: loop.next, rejected: new Set(loop.rejected.map(r => r.n)) }
    let lastAcked = loop.next - 1
    while (outcomes.rejected.has(lastAcked)) lastAcked--
    await waitFor('every client at the last acknowledged event', () => Object.values(clients).every(c => (c.messages.at(-1)?.n ?? -1) >= lastAcked), 30_000)
      .catch((err: Error) => t.fail(`${err.message}: ${Object.entries(clients).map(([name, c]) => `${name} at ${c.messages.at(-1)?.n}`).join('; ')}, last acknowledged ${lastAcked} of ${loop.next}`))
    const delivered = (name: string): number => Object.entries(clients).find(([n]) => n === name)![1].messages.filter(m => outcomes.rejected.has(m.n)).length
    t.comment(`rejected publishes that clients still got (stored after all, "outcome unknown"): ${delivered('eventsource on A')} of ${loop.rejected.length}`)
    for (const [name, client] of Object.entries(clients)) {
      checkClient(t, name, client, outcomes)
      t.same(client.resets, [], `${name}: no reset (the history still had every position)`)
    }
  })
}
