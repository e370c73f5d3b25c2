// Several instances of one app (separate processes) on one Redis, with real
// `eventsource` clients: an event published on any instance reaches the
// subscribers of every instance, and a client that moves between instances
// resumes with nothing missed and nothing twice.

import t from 'tap'
import { EventStreamReader, waitFor } from '../helpers/events.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { firstBreak, post, range, record, startInstance, type Instance } from './helpers.js'

const redisPath = requireRedisServer(t)

/** Publishes n = start, start+1, ... one at a time on `instance` until stopped; resolves with the count. */
function publishUntilStopped (instance: Instance, room: string, start = 0): { stop: () => Promise<number> } {
  const state = { stopped: false }
  let n = start
  const loop = (async () => {
    while (!state.stopped) {
      const { status } = await post(`${instance.url}/rooms/${room}/messages`, { n })
      if (status !== 200) throw new Error(`publish ${n} answered ${status}`)
      n++
      await new Promise(resolve => setTimeout(resolve, 2))
    }
    return n - start
  })()
  return { stop: async () => { state.stopped = true; return await loop } }
}

if (redisPath !== undefined) {
  t.test('published on A, delivered on B and C: every event, in order, with the same ids', async (t) => {
    const redis = await startRedis(t, redisPath)
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => startInstance(t, redis.url)))
    const onB = record(t, '/rooms/lobby/events', () => b!.url)
    const onC = record(t, '/rooms/lobby/events', () => c!.url)
    await waitFor('both clients open', () => onB.source.readyState === 1 && onC.source.readyState === 1)

    const ids: string[] = []
    for (let n = 0; n < 200; n++) ids.push((await post(`${a!.url}/rooms/lobby/messages`, { n })).body.id)
    await waitFor('200 events on B and C', () => onB.messages.length >= 200 && onC.messages.length >= 200)
    for (const [name, client] of [['B', onB], ['C', onC]] as const) {
      t.same(client.messages.map(m => m.n), range(0, 200), `${name}: in order, once each (${firstBreak(client.messages.map(m => m.n), 0)})`)
      t.same(client.messages.map(m => m.id), ids, `${name}: the ids the publishes resolved with`)
      t.same(client.resets, [], `${name}: no reset`)
    }
    t.equal(new Set(onB.messages.map(m => m.from)).size, 1, 'all published on A')
  })

  t.test('a client moved from A to B mid-stream resumes with no gap and no duplicate', async (t) => {
    const redis = await startRedis(t, redisPath)
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => startInstance(t, redis.url)))
    const client = record(t, '/rooms/move/events', (attempt) => attempt === 0 ? a!.url : b!.url)
    await waitFor('the client open on A', () => client.source.readyState === 1)
    const publisher = publishUntilStopped(c!, 'move')
    await waitFor('some events on A', () => client.messages.length >= 50)
    const { body: dropped } = await post(`${a!.url}/drop`)
    t.equal(dropped.dropped, 1, 'A cut the stream')
    await waitFor('the client on B', () => client.connections.length === 2 && client.messages.length >= 150, 15_000)
    const published = await publisher.stop()
    await waitFor('every event', () => client.messages.length >= published, 10_000)
    const ns = client.messages.map(m => m.n)
    t.same(ns, range(0, published), `all ${published} events, in order, once each (${firstBreak(ns, 0)})`)
    t.same(client.connections, [a!.url, b!.url], 'one connection to A, then one to B')
    t.same(client.resets, [])
  })

  t.test('a thousand events published while a client is away: all of them on resume, in order', async (t) => {
    const redis = await startRedis(t, redisPath)
    const [a, b] = await Promise.all([1, 2].map(() => startInstance(t, redis.url)))
    const first = record(t, '/rooms/away/events', () => a!.url)
    await waitFor('the client open', () => first.source.readyState === 1)
    await post(`${a!.url}/rooms/away/burst?count=10`)
    await waitFor('10 events', () => first.messages.length === 10)
    first.close()
    const lastSeen = first.messages.at(-1)!.id

    const burst = await post(`${b!.url}/rooms/away/burst?count=1000&start=10`)
    t.equal(burst.status, 200)
    const started = performance.now()
    const reader = new EventStreamReader(await fetch(`${b!.url}/rooms/away/events`, { headers: { 'last-event-id': lastSeen } }))
    t.teardown(() => reader.cancel())
    await reader.readUntil(events => events.length >= 1000, 15_000)
    const tookMs = performance.now() - started
    const ns = reader.events.map(e => (JSON.parse(e.data) as { n: number }).n)
    t.same(ns, range(10, 1000), `the 1000 missed events, in order (${firstBreak(ns, 10)})`)
    t.equal(reader.events.at(-1)!.id, burst.body.last)
    t.ok(reader.events.every(e => (e.event ?? 'message') === 'message'), 'and no reset')
    t.comment(`replayed 1000 events on resume in ${Math.round(tookMs)} ms (with the request)`)
  })

  t.test('a position trimmed away: exactly one history-lost reset to the current position, then live events', async (t) => {
    const redis = await startRedis(t, redisPath)
    const [a, b] = await Promise.all([1, 2].map(() => startInstance(t, redis.url, { HISTORY: '10' })))
    const first = record(t, '/rooms/trim/events', () => a!.url)
    await waitFor('the client open', () => first.source.readyState === 1)
    await post(`${a!.url}/rooms/trim/burst?count=3`)
    await waitFor('3 events', () => first.messages.length === 3)
    first.close()
    const lastSeen = first.messages.at(-1)!.id

    const burst = await post(`${a!.url}/rooms/trim/burst?count=500&start=3`)
    const reader = new EventStreamReader(await fetch(`${b!.url}/rooms/trim/events`, { headers: { 'last-event-id': lastSeen } }))
    t.teardown(() => reader.cancel())
    await reader.readUntil(events => events.length >= 1, 10_000)
    const live = await post(`${a!.url}/rooms/trim/messages`, { n: 1000 })
    await reader.readUntil(events => events.length >= 2, 10_000)
    t.same(reader.events.map(e => [e.event ?? 'message', e.id, e.data]), [
      ['reset', burst.body.last, '{"reason":"history-lost"}'],
      ['message', live.body.id, JSON.stringify({ n: 1000, from: String(a!.pid) })]
    ], 'one reset naming the newest id, then the next live event')
  })
}
