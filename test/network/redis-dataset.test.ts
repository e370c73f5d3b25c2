// Redis restarted with a different dataset (a failover to a replica that was behind,
// a restore of the wrong backup, a new empty Redis at the same address): the ids the
// clients hold mean nothing there. Every client must get exactly one reset and then
// the new events, and none may be handed an event of the other dataset as if it
// came after what it saw. Three datasets: empty; the topic's stream at other ids
// around the clients' position; and the worst one, a stream that has the clients'
// very position (stream id) followed by events that were never published here.

import t, { type Test } from 'tap'
import Redis from 'ioredis'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { compareIds } from '../../lib/hub/ids.js'
import { waitFor } from '../helpers/events.js'
import { requireRedisServer, startRedis, type RunningRedis } from '../helpers/redis-server.js'
import { post, record } from '../redis/helpers.js'
import { recordTyped, startApp } from './helpers.js'

t.setTimeout(240_000)
const redisPath = requireRedisServer(t)

/** A foreign event's body as the engine stores it; its n (1000 and up) tells it apart. */
const foreignBody = (n: number): string => `event: message\ndata: {"n":${n},"from":"another dataset"}\n`

type Dataset = (position: string) => Array<[id: string, n: number]>

const DATASETS: Record<string, Dataset | undefined> = {
  empty: undefined,
  'the topic\'s stream at other ids around the clients\' position': (position) => {
    const [ms, seq] = position.split('-').map(Number) as [number, number]
    return [[`${ms - 5000}-0`, 1000], [`${ms - 1}-7`, 1001], [`${ms}-${seq + 1}`, 1002], [`${ms + 1}-0`, 1003]]
  },
  'the topic\'s stream with the clients\' position and other events after it': (position) => {
    const [ms, seq] = position.split('-').map(Number) as [number, number]
    return [[`${ms - 5000}-0`, 1000], [`${ms}-${seq}`, 1001], [`${ms + 1}-0`, 1002], [`${ms + 2}-0`, 1003]]
  }
}

/** Writes the dataset's stream with a second redis-server and leaves its dump.rdb in `redis.dir` (stopped). */
async function putDataset (t: Test, redisPath: string, redis: RunningRedis, key: string, entries: Array<[string, number]>): Promise<void> {
  const scratch = await startRedis(t, redisPath)
  const client = new Redis(scratch.port, '127.0.0.1')
  try {
    for (const [id, n] of entries) await client.xadd(key, id, 'b', foreignBody(n))
    await client.save()
  } finally {
    client.disconnect()
  }
  await scratch.stop()
  copyFileSync(join(scratch.dir, 'dump.rdb'), join(redis.dir, 'dump.rdb'))
}

if (redisPath !== undefined) {
  for (const [name, dataset] of Object.entries(DATASETS)) {
    // The third dataset holds the clients' exact position (the stream id): only the tag in
    // the ids the clients hold tells its event apart from theirs.
    t.test(`Redis restarted with a different dataset (${name}): every client one reset, then the new events; none of the other dataset's`, async (t) => {
      const redis = await startRedis(t, redisPath)
      const env = { HEARTBEAT_MS: '1000', PUBLISH_TIMEOUT_MS: '1000' }
      const [a, b] = await Promise.all([startApp(t, redis.url, env), startApp(t, redis.url, env)])
      const clients = {
        'eventsource on A': record(t, '/rooms/ds/events', () => a!.url),
        'eventsource on B': record(t, '/rooms/ds/events', () => b!.url),
        'typed client on A': recordTyped(t, '/rooms/ds/events', () => a!.url),
        'typed client on B': recordTyped(t, '/rooms/ds/events', () => b!.url)
      }
      const open = async (url: string): Promise<number> => ((await (await fetch(url + '/stats')).json()) as { stats: { open: number } }).stats.open
      await waitFor('every stream open', async () => await open(a!.url) === 2 && await open(b!.url) === 2, 15_000)
      for (let n = 0; n < 10; n++) t.equal((await post(`${b!.url}/rooms/ds/messages`, { n })).status, 200)
      await waitFor('10 events on every client', () => Object.values(clients).every(c => c.messages.length === 10), 15_000)
      const position = clients['eventsource on A'].messages.at(-1)!.id

      await redis.stop()
      if (dataset !== undefined) await putDataset(t, redisPath, redis, 'sse:room:ds', dataset(position))
      const stopped = Date.now()
      const notReady = await waitFor('A not ready', async () => (await fetch(`${a!.url}/ready`)).status === 503 && await (await fetch(`${a!.url}/ready`)).json(), 10_000)
        .catch((err: Error) => { t.fail(err.message); return undefined })
      t.comment(`readiness with Redis down (after ${Date.now() - stopped} ms): ${JSON.stringify(notReady)}`)
      await redis.start()
      const started = Date.now()

      // Publish until Redis takes it, then a few more: numbers 10 and up, with the ids Redis gave them.
      const rejected = new Set<number>()
      const published: Array<{ n: number, id: string }> = []
      let n = 10
      while (true) {
        const reply = await post(`${b!.url}/rooms/ds/messages`, { n })
        if (reply.status === 200) {
          published.push({ n, id: reply.body.id })
          break
        }
        rejected.add(n++)
        if (Date.now() - started > 20_000) throw new Error('publishing did not come back within 20 s')
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      for (const more of [1, 2, 3, 4]) {
        const reply = await post(`${b!.url}/rooms/ds/messages`, { n: n + more })
        t.equal(reply.status, 200)
        published.push({ n: n + more, id: reply.body.id })
      }
      const last = n + 4
      await waitFor('the new events on every client', () => Object.values(clients).every(c => c.messages.at(-1)?.n === last), 20_000)
      const ready = await waitFor('A ready', async () => (await fetch(`${a!.url}/ready`)).status === 200 && await (await fetch(`${a!.url}/ready`)).json(), 15_000)
      t.comment(`readiness ${Date.now() - started} ms after the restart: ${JSON.stringify(ready)}`)

      for (const [client, recorded] of Object.entries(clients)) {
        const ns = recorded.messages.map(m => m.n)
        t.same(recorded.resets.length, 1, `${client}: exactly one reset (${JSON.stringify(recorded.resets)})`)
        t.same(ns.filter(k => k >= 1000), [], `${client}: no event of the other dataset`)
        t.same(ns.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `${client}: the events before the restart once`)
        // The reset moves the client to the newest id at that moment: it gets every event after that one.
        const resetTo = recorded.resets[0]?.id ?? ''
        const expected = published.filter(p => resetTo === '' || compareIds(p.id, resetTo) > 0).map(p => p.n)
        t.same(ns.slice(10).filter(k => !rejected.has(k)), expected, `${client}: then every event published after its reset's id (${resetTo}), once, in order`)
      }
    })
  }
}
