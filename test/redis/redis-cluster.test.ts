// The hub on a real Redis Cluster (3 masters, 3 replicas, started by the test on
// free ports): failovers, a killed master, a slot moved live, a paused node, a
// thousand topics resubscribed, and a lost tail. Each with clients on two app
// instances, eventsource and the typed client, checking every event once and in
// order by its sequence number. One cluster for the whole file.

import t, { type Test } from 'tap'
import { EventStreamReader, waitFor } from '../helpers/events.js'
import { requireRedisCluster, startRedisCluster, type RunningCluster } from '../helpers/redis-cluster.js'
import { keySlot, partitionOf, partitionTags } from '../../lib/redis/slots.js'
import { post, record, recordTyped, startInstance, type Instance, type Received } from './helpers.js'

const paths = requireRedisCluster(t)
const PARTITIONS = 64
const PROBE_MS = 300
const PUBLISH_TIMEOUT_MS = 1500

/** The master holding a room's topic, and its replica. */
async function ownersOf (cluster: RunningCluster, room: string): Promise<{ master: number, replica: number, slot: number }> {
  const topic = `room:${room}`
  const slot = keySlot(`sse:{${partitionTags(PARTITIONS)[partitionOf(topic, PARTITIONS)] as string}}${topic}`)
  const nodes = await cluster.topology()
  const master = nodes.find(n => n.role === 'master' && n.slots.includes(slot))
  const replica = nodes.find(n => n.role === 'replica' && n.masterPort === master?.port)
  if (master === undefined || replica === undefined) throw new Error(`no master and replica for slot ${slot}: ${JSON.stringify(nodes)}`)
  return { master: master.port, replica: replica.port, slot }
}

interface Publishing {
  readonly accepted: number[]
  readonly rejected: Array<{ n: number, code: string, ms: number }>
  stop: () => Promise<void>
}

/** Publishes n = 0, 1, ... one after the other on `instance`, noting which were accepted and which rejected. */
function publishing (instance: Instance, room: string, pauseMs = 5): Publishing {
  const state = { stopped: false }
  const accepted: number[] = []
  const rejected: Publishing['rejected'] = []
  const loop = (async () => {
    for (let n = 0; !state.stopped; n++) {
      const started = performance.now()
      const { status, body } = await post(`${instance.url}/rooms/${room}/messages`, { n })
      if (status === 200) accepted.push(n)
      else rejected.push({ n, code: String(body.code), ms: performance.now() - started })
      await new Promise(resolve => setTimeout(resolve, pauseMs))
    }
  })()
  return { accepted, rejected, stop: async () => { state.stopped = true; await loop } }
}

type Client = Omit<ReturnType<typeof record>, 'source'> & { readonly name: string }

/** Four clients on the room: eventsource and the typed client, on A and on B. */
async function clientsOn (t: Test, room: string, a: Instance, b: Instance): Promise<Client[]> {
  const path = `/rooms/${room}/events`
  const clients = [
    { name: 'eventsource on A', ...record(t, path, () => a.url) },
    { name: 'eventsource on B', ...record(t, path, () => b.url) },
    { name: 'typed client on A', ...recordTyped(t, path, () => a.url) },
    { name: 'typed client on B', ...recordTyped(t, path, () => b.url) }
  ]
  // Live on both instances once each has a warm-up event (n = -1, left out of the checks).
  await waitFor('four clients connected', () => clients.every(c => c.connections.length > 0), 10_000)
  await waitFor('a warm-up event on every client', async () => {
    await post(`${a.url}/rooms/${room}/messages`, { n: -1 })
    await new Promise(resolve => setTimeout(resolve, 200))
    return clients.every(c => c.messages.length > 0)
  }, 20_000)
  for (const client of clients) client.messages.splice(0)
  return clients
}

/**
 * Every client saw each number at most once, in order, and every accepted one (a
 * rejected publish may still have been stored: its outcome is unknown). With
 * `resets` allowed, a client may instead have one reset, and miss what the lost
 * history held.
 */
function checkClients (t: Test, clients: Client[], published: Publishing, options: { resets: 0 | 1 }): void {
  const last = published.accepted.at(-1) as number
  for (const client of clients) {
    const ns = client.messages.map((m: Received) => m.n).filter(n => n >= 0)
    const ordered = ns.every((n, i) => i === 0 || n > (ns[i - 1] as number))
    t.ok(ordered, `${client.name}: in order, none twice (${ns.length} events)`, ordered ? {} : { ns, rejected: published.rejected })
    const seen = new Set(ns)
    const missing = published.accepted.filter(n => !seen.has(n))
    if (options.resets === 0 || client.resets.length === 0) {
      t.same(missing, [], `${client.name}: every accepted event (last ${last})`)
      if (options.resets === 0) t.same(client.resets, [], `${client.name}: no reset`)
    } else {
      t.equal(client.resets.length, 1, `${client.name}: exactly one reset (${JSON.stringify(client.resets)}), ${missing.length} events lost with the history`)
      t.ok(seen.has(last), `${client.name}: live again after it`)
    }
  }
}

async function allDelivered (clients: Client[], published: Publishing, timeoutMs = 20_000): Promise<void> {
  const last = published.accepted.at(-1)
  await waitFor(`every client at ${last}`, () => clients.every(c => c.messages.some(m => m.n === last)), timeoutMs)
}

if (paths !== undefined) {
  t.test('the hub on a Redis Cluster', async (t) => {
    const started = performance.now()
    const cluster = await startRedisCluster(t, paths)
    t.comment(`cluster up in ${Math.round(performance.now() - started)} ms`)
    const url = 'cluster://' + cluster.startupNodes.map(n => `${n.host}:${n.port}`).join(',')
    const env = { PROBE_INTERVAL_MS: String(PROBE_MS), PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS), HEARTBEAT_MS: '1000' }
    const [a, b] = await Promise.all([startInstance(t, url, env), startInstance(t, url, env)]) as [Instance, Instance]

    t.test('CLUSTER FAILOVER on the replica mid-stream: no gap, no duplicate, no reset', async (t) => {
      const room = 'graceful'
      const clients = await clientsOn(t, room, a, b)
      const published = publishing(a, room)
      await waitFor('some events', () => published.accepted.length >= 50)
      const { master, replica } = await ownersOf(cluster, room)
      t.equal((await cluster.cli(replica, 'CLUSTER', 'FAILOVER')).trim(), 'OK')
      await waitFor('the replica promoted', async () => (await cluster.topology()).some(n => n.port === replica && n.role === 'master'), 15_000)
      const at = published.accepted.length
      await waitFor('more events after the failover', () => published.accepted.length >= at + 50, 15_000)
      await published.stop()
      await allDelivered(clients, published)
      checkClients(t, clients, published, { resets: 0 })
      t.ok(published.rejected.every(r => r.code === 'FST_SSE_HUB_UNAVAILABLE'), `rejections during the switch (${published.rejected.length}) say why`)
      await cluster.waitHealthy()
      t.comment(`master ${master} -> ${replica}`)
    })

    t.test('kill -9 of a master while publishing: no gap or exactly one reset; rejections say so, in time', async (t) => {
      const room = 'killed'
      const clients = await clientsOn(t, room, a, b)
      const published = publishing(a, room)
      await waitFor('some events', () => published.accepted.length >= 50)
      const { master, replica } = await ownersOf(cluster, room)
      const server = cluster.server(master)
      process.kill(server.pid as number, 'SIGKILL')
      await waitFor('the replica took over', async () => (await cluster.topology()).some(n => n.port === replica && n.role === 'master'), 20_000)
      const at = published.accepted.length
      await waitFor('more events after the takeover', () => published.accepted.length >= at + 50, 20_000)
      await published.stop()
      await allDelivered(clients, published)
      checkClients(t, clients, published, { resets: 1 })
      const late = published.rejected.filter(r => r.ms > PUBLISH_TIMEOUT_MS + 1000)
      t.ok(published.rejected.every(r => r.code === 'FST_SSE_HUB_UNAVAILABLE'), `each of the ${published.rejected.length} rejections is FST_SSE_HUB_UNAVAILABLE`)
      t.same(late, [], 'each within publishTimeoutMs (with a margin for the loaded machine)')
      // The killed master comes back as a replica of the new one.
      await server.stop()
      await server.start()
      await cluster.waitHealthy()
    })

    t.test('a busy topic\'s slot moved live to another master: no gap, no duplicate, no CROSSSLOT', async (t) => {
      const room = 'moved'
      const clients = await clientsOn(t, room, a, b)
      const published = publishing(a, room, 2)
      await waitFor('some events', () => published.accepted.length >= 50)
      const { master, slot } = await ownersOf(cluster, room)
      const nodes = await cluster.topology()
      const source = nodes.find(n => n.port === master)!
      const target = nodes.find(n => n.role === 'master' && n.port !== master)!
      await cluster.cli(target.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id)
      await cluster.cli(source.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id)
      // Move the keys a few at a time while the topic goes on being published to.
      for (;;) {
        const keys = (await cluster.cli(source.port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '1')).trim().split('\n').filter(k => k !== '')
        if (keys.length === 0) break
        await new Promise(resolve => setTimeout(resolve, 200))
        await cluster.cli(source.port, 'MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', ...keys)
      }
      for (const node of nodes.filter(n => n.role === 'master')) await cluster.cli(node.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id)
      t.equal((await ownersOf(cluster, room)).master, target.port, 'the slot now lives on another master')
      const at = published.accepted.length
      await waitFor('more events after the move', () => published.accepted.length >= at + 100, 15_000)
      await published.stop()
      await allDelivered(clients, published)
      checkClients(t, clients, published, { resets: 0 })
      t.same(published.rejected, [], 'no publish failed (no CROSSSLOT, ASK and TRYAGAIN retried)')
      await cluster.waitHealthy()
    })

    t.test('the silent subscriber: the node paused (SIGSTOP) past the node timeout, then resumed: events published meanwhile arrive, health recovers', async (t) => {
      const room = 'paused'
      const clients = await clientsOn(t, room, a, b)
      const published = publishing(a, room)
      await waitFor('some events', () => published.accepted.length >= 30)
      await published.stop()
      const { master, replica } = await ownersOf(cluster, room)
      // Nothing acknowledged may be lost here: the replica has it all before the pause.
      await cluster.cli(master, 'WAIT', '1', '5000')
      const server = cluster.server(master)
      process.kill(server.pid as number, 'SIGSTOP')
      t.teardown(() => { if (server.pid !== undefined) process.kill(server.pid, 'SIGCONT') })
      const pausedAt = performance.now()
      const during = publishing(b, room)
      let unhealthy = false
      await waitFor('the replica took over', async () => {
        unhealthy ||= !(await fetch(`${a.url}/health`).then(r => r.json()) as { ready: boolean }).ready
        return (await cluster.topology()).some(n => n.port === replica && n.role === 'master')
      }, 20_000)
      const at = during.accepted.length
      await waitFor('events accepted by the new master', () => during.accepted.length >= at + 30, 20_000)
      await during.stop()
      const last = during.accepted.at(-1)
      // The second publisher numbers from 0 again: its last event is one after the first publisher's.
      const secondRun = (c: Client): number[] => c.messages.map(m => m.n).filter(n => n >= 0).slice(published.accepted.length)
      await waitFor('the events published during the pause on every client', () => clients.every(c => secondRun(c).includes(last as number)), 20_000)
      t.comment(`from the pause to every client caught up: ${Math.round(performance.now() - pausedAt)} ms`)
      process.kill(server.pid as number, 'SIGCONT')
      for (const client of clients) {
        const ns = client.messages.map(m => m.n).filter(n => n >= 0)
        // Two publishers in turn: the first numbered 0.., the second 0.. again after it.
        const first = ns.slice(0, published.accepted.length)
        const second = ns.slice(published.accepted.length)
        t.same(first, published.accepted, `${client.name}: the events before the pause, once each, in order`)
        const inOrder = second.every((n, i) => i === 0 || n > (second[i - 1] as number))
        const missing = during.accepted.filter(n => !second.includes(n))
        t.ok(inOrder && missing.length === 0, `${client.name}: every event accepted during and after the pause, once, in order`, { second, missing, rejected: during.rejected })
        t.same(client.resets, [], `${client.name}: no reset`)
      }
      t.comment(`health said not ready during the pause: ${unhealthy}`)
      await waitFor('both instances healthy again', async () => {
        const health = await Promise.all([a, b].map(async i => await fetch(`${i.url}/health`).then(r => r.json()) as { ready: boolean }))
        return health.every(h => h.ready)
      }, 10_000)
      await cluster.waitHealthy()
    })

    t.test('a client resuming with an id from a lost tail gets one reset to the new position; open streams get exactly one reset', async (t) => {
      const room = 'lost'
      const clients = await clientsOn(t, room, a, b)
      for (let n = 0; n < 20; n++) await post(`${a.url}/rooms/${room}/messages`, { n })
      const { master, replica } = await ownersOf(cluster, room)
      await cluster.cli(master, 'WAIT', '1', '5000')
      // The replica stops replicating (paused, its replication link cut, so that it cannot
      // reconnect): what the master acknowledges from now on is the tail it will lose.
      const stoppedReplica = cluster.server(replica)
      process.kill(stoppedReplica.pid as number, 'SIGSTOP')
      t.equal((await cluster.cli(master, 'CLIENT', 'KILL', 'TYPE', 'replica')).trim(), '1', 'the replication link cut')
      t.teardown(() => { if (stoppedReplica.pid !== undefined) process.kill(stoppedReplica.pid, 'SIGCONT') })
      let lostId = ''
      for (let n = 20; n < 30; n++) lostId = (await post(`${a.url}/rooms/${room}/messages`, { n })).body.id as string
      await waitFor('the tail on every client', () => clients.every(c => c.messages.some(m => m.n === 29)), 10_000)
      t.equal(clients[0]!.messages.at(-1)!.id, lostId, 'the clients hold the id of the last acknowledged event')

      const killed = cluster.server(master)
      process.kill(killed.pid as number, 'SIGKILL')
      process.kill(stoppedReplica.pid as number, 'SIGCONT')
      await waitFor('the stale replica forced to take over', async () => {
        await cluster.cli(replica, 'CLUSTER', 'FAILOVER', 'TAKEOVER').catch(() => '')
        return (await cluster.topology()).some(n => n.port === replica && n.role === 'master')
      }, 20_000)
      const published = { accepted: [] as number[], rejected: [] as Publishing['rejected'], stop: async () => {} }
      let newest = ''
      await waitFor('publishing works on the new master', async () => {
        const reply = await post(`${a.url}/rooms/${room}/messages`, { n: 30 })
        if (reply.status === 200) newest = reply.body.id as string
        return reply.status === 200
      }, 20_000)
      published.accepted.push(30)
      t.ok(newest > lostId || newest.length > lostId.length, `new ids go on above the lost ones on this host's clock (${newest} after ${lostId})`)

      const resumed = new EventStreamReader(await fetch(`${b.url}/rooms/${room}/events`, { headers: { 'last-event-id': lostId } }))
      t.teardown(() => resumed.cancel())
      await resumed.readUntil(events => events.length >= 1, 10_000)
      t.equal(resumed.events[0]!.event, 'reset', 'the resuming client: a reset first')
      t.equal(resumed.events[0]!.id, newest, 'with the Last-Event-ID of the new position')
      for (let n = 31; n < 40; n++) {
        await post(`${a.url}/rooms/${room}/messages`, { n })
        published.accepted.push(n)
      }
      await resumed.readUntil(events => events.length >= 10, 10_000)
      t.same(resumed.events.slice(1).map(e => (JSON.parse(e.data) as { n: number }).n), [31, 32, 33, 34, 35, 36, 37, 38, 39], 'then the live events, nothing it never saw')
      await allDelivered(clients, published)
      for (const client of clients) {
        t.equal(client.resets.length, 1, `${client.name}: exactly one reset (${JSON.stringify(client.resets)})`)
        const ns = client.messages.map(m => m.n).filter(n => n >= 0)
        t.ok(ns.every((n, i) => i === 0 || n > (ns[i - 1] as number)), `${client.name}: in order, none twice`)
        t.ok(ns.includes(39), `${client.name}: live after the reset`)
      }
      await killed.stop()
      await killed.start()
      await cluster.waitHealthy()
    })

    t.test('1,000 topics: after every instance\'s subscriber connections are killed, each master carries its share of the partitions (within 2x of even), and every topic delivers', async (t) => {
      const [c, d] = await Promise.all([startInstance(t, url, env), startInstance(t, url, env)]) as [Instance, Instance]
      const readers: EventStreamReader[] = []
      t.teardown(() => { for (const reader of readers) reader.cancel() })
      for (let i = 0; i < 1000; i += 50) {
        readers.push(...await Promise.all(Array.from({ length: 50 }, async (_, k) =>
          new EventStreamReader(await fetch(`${(i + k) % 2 === 0 ? c.url : d.url}/rooms/many-${i + k}/events`)))))
      }
      await Promise.all(readers.map(async r => await r.readUntil(events => events.length >= 0, 10_000)))
      const masters = (await cluster.topology()).filter(n => n.role === 'master')
      const channels = partitionTags(PARTITIONS).map(tag => `sse:{${tag}}`)
      const shares = new Map<number, number>()
      /** Subscriptions to the partitions' channels on every master; `shares`: the partitions each master carries. */
      const subscriptions = async (): Promise<number> => {
        shares.clear()
        let total = 0
        for (const master of masters) {
          const reply = (await cluster.cli(master.port, 'PUBSUB', 'SHARDNUMSUB', ...channels)).trim().split('\n')
          let carried = 0
          for (let i = 0; i < reply.length; i += 2) {
            const count = Number(reply[i + 1])
            if (count > 0) carried++
            total += count
          }
          shares.set(master.port, carried)
        }
        return total
      }
      let before = 0
      await waitFor('every instance subscribed', async () => (before = await subscriptions()) >= 2 * PARTITIONS, 10_000)
      let killed = 0
      for (const master of masters) killed += Number((await cluster.cli(master.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub')).trim())
      t.ok(killed >= 2 * masters.length, `killed ${killed} subscriber connections`)
      await waitFor(`all ${before} partition subscriptions back`, async () => await subscriptions() === before, 20_000)
      t.equal([...shares.values()].reduce((sum, n) => sum + n, 0), PARTITIONS, 'every partition on one master')
      const even = PARTITIONS / masters.length
      for (const [port, share] of shares) t.ok(share >= even / 2 && share <= even * 2, `master ${port}: ${share} partitions (even: ${even.toFixed(1)})`)

      for (let i = 0; i < 1000; i += 50) {
        await Promise.all(Array.from({ length: 50 }, async (_, k) => {
          const reply = await post(`${a.url}/rooms/many-${i + k}/messages`, { n: 0 })
          if (reply.status !== 200) throw new Error(`publish to many-${i + k} answered ${reply.status}`)
        }))
      }
      await Promise.all(readers.map(async r => await r.readUntil(events => events.length >= 1, 20_000)))
      t.ok(readers.every(r => r.events.length === 1 && (r.events[0]!.event ?? 'message') === 'message'), 'each of the 1,000 streams got its topic\'s event, and no reset')
    })
  })
}
