// A lossy link to Redis: a fifth of the packets to and from its port dropped at
// random for 30 s, while an instance publishes 2,000 events/s. TCP retransmits, so
// commands and live messages arrive late, not lost; the hub must still hand every
// client every acknowledged event once, in order. Latency (publish to client, p50
// and p99) before, during and after the loss is printed.

import t from 'tap'
import { waitFor } from '../helpers/events.js'
import { dropPort, leftoverRules, requireIptables } from '../helpers/iptables.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { post, record } from '../redis/helpers.js'
import { checkClient, latencies, recordTyped, startApp } from './helpers.js'

t.setTimeout(240_000)
const redisPath = requireRedisServer(t)
const iptables = requireIptables(t)

const RATE = 2000
const LOSS_MS = 30_000

if (redisPath !== undefined && iptables !== undefined) {
  t.test(`a fifth of Redis's packets dropped for 30 s at ${RATE} events/s: no gap, no duplicate`, async (t) => {
    const redis = await startRedis(t, redisPath)
    const env = { HEARTBEAT_MS: '1000', HISTORY: '200000' }
    const [a, b] = await Promise.all([startApp(t, redis.url, env), startApp(t, redis.url, env)])
    const typedA = recordTyped(t, '/rooms/lossy/events', () => a!.url)
    const typedB = recordTyped(t, '/rooms/lossy/events', () => b!.url)
    const clients = {
      'eventsource on A': record(t, '/rooms/lossy/events', () => a!.url),
      'eventsource on B': record(t, '/rooms/lossy/events', () => b!.url),
      'typed client on A': typedA,
      'typed client on B': typedB
    }
    const open = async (url: string): Promise<number> => ((await (await fetch(url + '/stats')).json()) as { stats: { open: number } }).stats.open
    await waitFor('every stream open', async () => await open(a!.url) === 2 && await open(b!.url) === 2, 15_000)

    await post(`${b!.url}/rooms/lossy/loop`, { rate: RATE })
    await new Promise(resolve => setTimeout(resolve, 5000))
    const drop = await dropPort(t, redis.port, { probability: 0.2 })
    const lossFrom = Date.now()
    t.comment(`lossy: ${drop.rules.join('; ')}`)
    await new Promise(resolve => setTimeout(resolve, LOSS_MS))
    await drop.remove()
    const lossTo = Date.now()
    t.same(leftoverRules(), [], 'no iptables rule of this test is left')
    await new Promise(resolve => setTimeout(resolve, 10_000))
    const loop = (await (await fetch(`${b!.url}/rooms/lossy/loop?stop=1`)).json()) as { next: number, rejected: Array<{ n: number, code: string }> }
    const outcomes = { next: loop.next, rejected: new Set(loop.rejected.map(r => r.n)) }
    t.comment(`${loop.next} published, ${loop.rejected.length} rejected (${[...new Set(loop.rejected.map(r => r.code))].join(', ') || 'none'})`)
    let lastAcked = loop.next - 1
    while (outcomes.rejected.has(lastAcked)) lastAcked--
    const ended = async (url: string): Promise<string> => JSON.stringify(((await (await fetch(url + '/stats')).json()) as { ended: unknown }).ended)
    await waitFor('every client at the last acknowledged event', () => Object.values(clients).every(c => (c.messages.at(-1)?.n ?? -1) >= lastAcked), 120_000)
      .catch(async (err: Error) => t.fail(`${err.message}: ${Object.entries(clients).map(([name, c]) => `${name} at ${c.messages.at(-1)?.n} (${c.messages.length} events, ${c.connections.length} connections)`).join('; ')}, last acknowledged ${lastAcked}; typed client errors: A ${String(typedA.error)}, B ${String(typedB.error)}; streams ended on A ${await ended(a!.url)}, on B ${await ended(b!.url)}`))

    for (const [name, client] of Object.entries(clients)) {
      checkClient(t, name, client, outcomes)
      t.same(client.resets, [], `${name}: no reset`)
    }
    for (const [name, typed] of [['A', typedA], ['B', typedB]] as const) {
      const published = (from: number, to: number): typeof typed.messages => typed.messages.filter(m => Number(m.from) >= from && Number(m.from) < to)
      const phases = { before: published(0, lossFrom), during: published(lossFrom, lossTo), after: published(lossTo, Infinity) }
      const report = Object.entries(phases).map(([phase, messages]) => {
        const [p50, p99] = latencies(messages, [0.5, 0.99])
        return `${phase} p50 ${p50} ms, p99 ${p99} ms (${messages.length} events)`
      })
      t.comment(`latency to the typed client on ${name}: ${report.join('; ')}`)
    }
  })
}
