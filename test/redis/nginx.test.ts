// Two instances on one Redis behind a real nginx, round-robin, with the shipped
// example/nginx.conf: a client whose stream is cut again and again reconnects to
// whichever instance nginx picks, and still gets every event once, in order.

import t from 'tap'
import { waitFor } from '../helpers/events.js'
import { startNginx } from '../helpers/nginx.js'
import { requireProgram } from '../helpers/programs.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { firstBreak, post, range, record, startInstance } from './helpers.js'

const redisPath = requireRedisServer(t)
const nginxPath = requireProgram(t, 'nginx', 'apt-get install -y nginx')

if (redisPath !== undefined && nginxPath !== undefined) {
  t.test('through nginx round-robin, a client bounced between two instances misses nothing and gets nothing twice', async (t) => {
    const redis = await startRedis(t, redisPath)
    const [a, b] = await Promise.all([1, 2].map(() => startInstance(t, redis.url)))
    const nginx = await startNginx(t, nginxPath, { upstreamPort: [a!, b!].map(instance => Number(new URL(instance.url).port)) })
    const client = record(t, '/rooms/bounce/events', () => nginx.url)
    await waitFor('the client open', () => client.source.readyState === 1)

    const rounds = 10
    const total = rounds * 120
    const openStreams = async (): Promise<number> => (await Promise.all([a!, b!].map(async instance =>
      (await (await fetch(`${instance.url}/stats`)).json() as { open: number }).open))).reduce((x, y) => x + y)
    // Each round: events published, and the client's stream cut while they flow; it reconnects through nginx.
    for (let round = 0; round < rounds; round++) {
      await waitFor(`connection ${round + 1} open`, async () => client.connections.length === round + 1 && await openStreams() === 1, 15_000)
      const burst = post(`${a!.url}/rooms/bounce/burst?count=120&start=${round * 120}`)
      await waitFor(`part of round ${round + 1}`, () => client.messages.length >= round * 120 + 40, 15_000)
      await Promise.all([a!, b!].map(instance => post(`${instance.url}/drop`)))
      t.equal((await burst).status, 200)
    }
    await waitFor(`all ${total} events`, () => client.messages.length >= total && client.connections.length === rounds + 1, 20_000)

    const ns = client.messages.map(m => m.n)
    t.same(ns, range(0, total), `every event once, in order (${firstBreak(ns, 0)})`)
    t.same(client.resets, [], 'no reset')
    t.ok(client.connections.length === rounds + 1, `the client reconnected after every cut (${client.connections.length} connections)`)
    const served = await Promise.all([a!, b!].map(async instance => (await (await fetch(`${instance.url}/stats`)).json() as { served: number }).served))
    t.ok(served[0]! >= 5 && served[1]! >= 5, `both instances served the client (${served.join(' and ')} streams)`)
  })
}
