// An instance killed (SIGKILL: no close, no FIN from the app, only the kernel's
// resets) behind nginx with 1,000 clients on it, while the other instance keeps
// publishing. nginx sends every request to A and to B only when A fails
// (`backup`), so all 1,000 start on A; when A dies they reconnect through nginx,
// land on B and resume there from their Last-Event-ID: no gap, no duplicate.

import t from 'tap'
import { waitFor } from '../helpers/events.js'
import { startNginx } from '../helpers/nginx.js'
import { requireProgram } from '../helpers/programs.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { post, record } from '../redis/helpers.js'
import { clientProblems, recordTyped, startApp, type Outcomes } from './helpers.js'

t.setTimeout(240_000)
const redisPath = requireRedisServer(t)
const nginxPath = requireProgram(t, 'nginx', 'apt-get install -y nginx')

const CLIENTS = 1000
const ROOMS = 10
/** Events per second per room, published on the instance that survives. */
const RATE = 4

if (redisPath !== undefined && nginxPath !== undefined) {
  t.test(`an instance killed behind nginx with ${CLIENTS} clients on it: they resume on the other one, no gap, no duplicate`, async (t) => {
    const redis = await startRedis(t, redisPath)
    const env = { HEARTBEAT_MS: '5000' }
    const [a, b] = await Promise.all([startApp(t, redis.url, env), startApp(t, redis.url, env)])
    const nginx = await startNginx(t, nginxPath, {
      upstreamPort: Number(new URL(a!.url).port),
      backupPorts: [Number(new URL(b!.url).port)],
      workerConnections: CLIENTS * 2 + 256
    })
    const open = async (url: string): Promise<number> => ((await (await fetch(url + '/stats')).json()) as { stats: { open: number } }).stats.open

    // Half eventsource, half the typed client, on ten rooms.
    const clients = Array.from({ length: CLIENTS }, (_, i) => {
      const path = `/rooms/k${i % ROOMS}/events`
      return { room: i % ROOMS, kind: i % 2 === 0 ? 'eventsource' : 'typed client', recorder: i % 2 === 0 ? record(t, path, () => nginx.url) : recordTyped(t, path, () => nginx.url) }
    })
    await waitFor(`${CLIENTS} streams open on A`, async () => await open(a!.url) === CLIENTS, 90_000)
    for (let room = 0; room < ROOMS; room++) await post(`${b!.url}/rooms/k${room}/loop`, { rate: RATE })
    await waitFor('events on every client', () => clients.every(c => c.recorder.messages.length >= 2), 30_000)

    await a!.kill()
    const killed = Date.now()
    const moved = await waitFor(`${CLIENTS} streams open on B`, async () => await open(b!.url) === CLIENTS && Date.now() - killed, 60_000)
    t.comment(`all ${CLIENTS} clients reconnected to B through nginx ${moved} ms after the kill`)
    await waitFor('events after the kill on every client', () => clients.every(c => c.recorder.messages.some(m => Number(m.from) > killed + 1000)), 30_000)

    const outcomes: Outcomes[] = []
    for (let room = 0; room < ROOMS; room++) {
      const loop = (await (await fetch(`${b!.url}/rooms/k${room}/loop?stop=1`)).json()) as { next: number, rejected: Array<{ n: number }> }
      outcomes.push({ next: loop.next, rejected: new Set(loop.rejected.map(r => r.n)) })
    }
    t.same(outcomes.map(o => o.rejected.size), outcomes.map(() => 0), 'publishing on B went on throughout, nothing rejected')
    await waitFor('every client at its room\'s last event', () => clients.every(c => c.recorder.messages.at(-1)?.n === outcomes[c.room]!.next - 1), 30_000)

    const problems: string[] = []
    for (const [i, { room, kind, recorder }] of clients.entries()) {
      const { order, unknown, missing } = clientProblems(recorder, outcomes[room]!)
      if (order.length + unknown.length + missing.length > 0) problems.push(`client ${i} (${kind}, room ${room}): ${JSON.stringify({ order: order.slice(0, 3), unknown: unknown.slice(0, 3), missing: missing.slice(0, 3) })}`)
      if (recorder.resets.length > 0) problems.push(`client ${i} (${kind}): reset ${JSON.stringify(recorder.resets)}`)
      if (recorder.connections.length < 2) problems.push(`client ${i} (${kind}): never reconnected`)
    }
    t.same(problems.slice(0, 10), [], `every client (${CLIENTS}, eventsource and typed): reconnected once or more, every event once and in order, no reset (${problems.length} problems)`)
    t.equal(await open(b!.url), CLIENTS, `all ${CLIENTS} on B`)
  })
}
