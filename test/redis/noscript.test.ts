// Publish order when Redis loses the engine's scripts (SCRIPT FLUSH, a restart): a call
// that meets NOSCRIPT is resent, and must not be stored after calls made after it.

import t, { type Test } from 'tap'
import Redis from 'ioredis'
import { redisEngine } from '../../lib/redis/index.js'
import type { HubEngine, LiveEntry } from '../../lib/hub/engine.js'
import { compareIds } from '../../lib/hub/ids.js'
import { requireRedisServer, startRedis, type RunningRedis } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/events.js'

const redisPath = requireRedisServer(t)
const TOPIC = 'orders'
const KEY = 'sse:' + TOPIC

function clientOf (t: Test, redis: RunningRedis): Redis {
  const client = new Redis(redis.port, '127.0.0.1', { retryStrategy: () => 20 })
  client.on('error', () => {}) // one test restarts Redis on purpose
  t.teardown(() => { client.disconnect() })
  return client
}

/** Acknowledged publishes, by publish number, with the id each got. */
type Acknowledged = Map<number, string>

/**
 * Publishes events, `perTick` at a time without waiting for their answers (as a busy
 * server does), from before `disturb` starts until `after` more once it is done; resolves
 * once every publish has settled.
 */
async function publishWhile (engine: HubEngine, perTick: number, after: number, disturb: () => Promise<void>): Promise<{ acknowledged: Acknowledged, count: number }> {
  const acknowledged: Acknowledged = new Map()
  const settled: Array<Promise<void>> = []
  let next = 0
  let last = Infinity
  const publishing = new Promise<void>(resolve => {
    const tick = (): void => {
      for (let i = 0; i < perTick && next < last; i++, next++) {
        const n = next
        settled.push(engine.append(TOPIC, `data: ${n}\n`).then(id => { acknowledged.set(n, id) }, () => {}))
      }
      if (next < last) setTimeout(tick, 1)
      else resolve()
    }
    tick()
  })
  await disturb()
  last = next + after
  await publishing
  await Promise.all(settled)
  return { acknowledged, count: next }
}

/** The publish numbers in the stream, in stored order. */
async function storedOrder (admin: Redis): Promise<number[]> {
  const entries = await admin.xrange(KEY, '-', '+')
  return entries.map(([, fields]) => Number(/^data: (\d+)\n$/.exec(fields[1] ?? '')?.[1]))
}

function assertInPublishOrder (t: Test, stored: number[], acknowledged: Acknowledged): void {
  const ackedStored = stored.filter(n => acknowledged.has(n))
  t.equal(ackedStored.length, acknowledged.size, 'every acknowledged publish is stored')
  const outOfOrder = ackedStored.filter((n, i) => i > 0 && n < (ackedStored[i - 1] as number))
  t.same(outOfOrder.slice(0, 10), [], 'acknowledged publishes are stored in publish order')
  const ids = [...acknowledged.entries()].sort(([a], [b]) => a - b).map(([, id]) => id)
  const idsOutOfOrder = ids.filter((id, i) => i > 0 && compareIds(ids[i - 1] as string, id) >= 0)
  t.same(idsOutOfOrder.slice(0, 10), [], 'each acknowledged publish got a larger id than the one published before it')
}

if (redisPath !== undefined) {
  t.test('SCRIPT FLUSH while publishing: stored and delivered in publish order', async (t) => {
    const redis = await startRedis(t, redisPath)
    const admin = clientOf(t, redis)
    const engine = redisEngine({ client: clientOf(t, redis), history: 100_000 })
    t.teardown(() => engine.close())
    const live: LiveEntry[] = []
    let resyncs = 0
    engine.listen(TOPIC, { entry: (entry) => live.push(entry), resync: () => { resyncs++ } })
    await waitFor('the subscription', async () => ((await admin.call('PUBSUB', 'NUMSUB', KEY)) as [string, number])[1] === 1)
    await waitFor('the subscription confirmed', () => resyncs === 1)

    let flushes = 0
    const { acknowledged, count } = await publishWhile(engine, 12, 500, async () => {
      for (let i = 0; i < 8; i++) {
        await new Promise(resolve => setTimeout(resolve, 40))
        await admin.script('FLUSH')
        flushes++
      }
    })
    t.equal(flushes, 8, 'the scripts were flushed 8 times while publishing')
    t.ok(acknowledged.size > count * 0.95, `nearly every publish succeeded (${acknowledged.size} of ${count})`)
    const stored = await storedOrder(admin)
    assertInPublishOrder(t, stored, acknowledged)

    await waitFor('every stored event delivered live', () => live.length >= stored.length)
    t.equal(resyncs, 1, 'the live path never lost track (no resync after the first)')
    const delivered = live.map(entry => Number(/^data: (\d+)\n$/.exec(entry.body)?.[1]))
    t.same(delivered, stored, 'the listener got every event, in stored order')
    const chained = live.every((entry, i) => i === 0 || entry.previousId === live[i - 1]?.id)
    t.ok(chained, 'each live event names the one before it')
  })

  t.test('Redis restarts (AOF) while publishing: acknowledged publishes stay in publish order', async (t) => {
    const redis = await startRedis(t, redisPath, { aof: true })
    const admin = clientOf(t, redis)
    const engine = redisEngine({ client: clientOf(t, redis), history: 100_000, publishTimeoutMs: 3000 })
    t.teardown(() => engine.close())

    const { acknowledged, count } = await publishWhile(engine, 6, 1000, async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise(resolve => setTimeout(resolve, 250))
        await redis.stop()
        await redis.start()
      }
    })
    t.ok(acknowledged.size > 1000, `publishes succeeded between the restarts (${acknowledged.size} of ${count})`)
    assertInPublishOrder(t, await storedOrder(admin), acknowledged)
  })
}
