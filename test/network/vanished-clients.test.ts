// 500 clients that vanish mid-stream without a FIN or a RST (a phone leaving the
// network, a NAT entry dropped): every packet to and from their ports is dropped.
// The server learns nothing from the network; what it sees is that its writes stop
// being taken once the bytes the client never acknowledges fill the socket's send
// buffer, and sendTimeout then drops the stream. The connections use a real
// network's segment size (MSS 1460, clamped with iptables): on loopback's 64 KiB
// segments the kernel would size each send buffer at up to 4 MB.
//
// Each stream must be torn down within the README's bound (send buffer / rate +
// 1.5 × sendTimeout), every hub cursor finalized (the topic's last reader gone,
// the instance unsubscribes from its channel), sseStats back to 0 open, the heap
// back within 2 MB.

import t from 'tap'
import Redis from 'ioredis'
import net from 'node:net'
import { once } from 'node:events'
import { waitFor } from '../helpers/events.js'
import { clampMss, dropPort, leftoverRules, requireIptables } from '../helpers/iptables.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { post } from '../redis/helpers.js'
import { startApp } from './helpers.js'

t.setTimeout(240_000)
const redisPath = requireRedisServer(t)
const iptables = requireIptables(t)

const CLIENTS = 500
const SEND_TIMEOUT_MS = 2000
/** Events per second on the topic, and their padding: about 10 kB/s per client. */
const RATE = 10
const PAD = 1000
/** The README's bound for this stream: ~70 kB of send buffer at 10 kB/s, plus 1.5 sendTimeouts, and room for a busy machine. */
const TEARDOWN_BOUND_MS = 30_000

/** A raw HTTP client that reads and discards, from a fixed local port. */
async function connectFrom (port: number, localPort: number, path: string): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1', localPort })
  await once(socket, 'connect')
  socket.on('data', () => {})
  socket.on('error', () => {})
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
  return socket
}

/** CLIENTS sockets on consecutive local ports below the ephemeral range (another base if one is taken). */
async function clientsOnPortRange (port: number, path: string): Promise<{ sockets: net.Socket[], from: number, to: number }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const from = 20_000 + Math.floor(Math.random() * 10_000)
    const sockets: net.Socket[] = []
    try {
      for (let i = 0; i < CLIENTS; i++) sockets.push(await connectFrom(port, from + i, path))
      return { sockets, from, to: from + CLIENTS - 1 }
    } catch {
      for (const socket of sockets) socket.destroy()
    }
  }
  throw new Error(`no ${CLIENTS} free local ports in a row below 30000`)
}

interface Stats {
  stats: { open: number, ended: Record<string, number> }
  ended: Array<{ reason: string | undefined, at: number, port: number | undefined }>
}

if (redisPath !== undefined && iptables !== undefined) {
  t.test(`${CLIENTS} clients vanish without a FIN: each stream torn down in time, every source finalized, nothing left behind`, async (t) => {
    const redis = await startRedis(t, redisPath)
    const app = await startApp(t, redis.url, { SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS), HEARTBEAT_MS: '1000' })
    const appPort = Number(new URL(app.url).port)
    await clampMss(t, appPort, 1460)
    const stats = async (): Promise<Stats> => (await fetch(app.url + '/stats')).json() as Promise<Stats>
    const heap = async (): Promise<number> => ((await (await fetch(app.url + '/memory')).json()) as { heapUsed: number }).heapUsed
    const admin = new Redis(redis.port, '127.0.0.1')
    t.teardown(() => { admin.disconnect() })
    const listening = async (): Promise<number> => ((await admin.pubsub('NUMSUB', 'sse:room:v')) as [string, number])[1]

    await post(`${app.url}/rooms/v/loop`, { rate: RATE, pad: PAD })
    // A first round of clients that leave normally, so that the baseline has what the first streams allocate once.
    const warm = await clientsOnPortRange(appPort, '/rooms/v/events')
    await waitFor('the warm-up streams open', async () => (await stats()).stats.open === CLIENTS, 30_000)
    for (const socket of warm.sockets) socket.destroy()
    await waitFor('the warm-up streams closed', async () => (await stats()).stats.open === 0, 30_000)
    const heapBefore = await heap()
    const endedBefore = (await stats()).ended.length

    const { sockets, from, to } = await clientsOnPortRange(appPort, '/rooms/v/events')
    await waitFor('every stream open', async () => (await stats()).stats.open === CLIENTS, 30_000)
    await waitFor('the instance listening to the topic', async () => await listening() === 1, 10_000)
    await new Promise(resolve => setTimeout(resolve, 2000)) // events flowing to everyone

    const drop = await dropPort(t, [from, to])
    const vanished = Date.now()
    t.comment(`${CLIENTS} clients on ports ${from}-${to} vanished: ${drop.rules.join('; ')}`)
    await waitFor('every stream torn down', async () => (await stats()).stats.open === 0, TEARDOWN_BOUND_MS + 30_000)
      .catch(async () => { t.fail(`streams still open after ${Math.round((Date.now() - vanished) / 1000)} s: ${(await stats()).stats.open}`) })

    const ended = (await stats()).ended.slice(endedBefore)
    const ours = ended.filter(end => end.port !== undefined && end.port >= from && end.port <= to)
    const took = ours.map(end => end.at - vanished).sort((a, b) => a - b)
    t.comment(`teardown after the vanish (ms): first ${took[0]}, median ${took[took.length >> 1]}, last ${took.at(-1)}`)
    t.equal(ours.length, CLIENTS, 'every vanished client\'s stream ended')
    t.same([...new Set(ours.map(end => end.reason))], ['stalled'], 'each as stalled (sendTimeout)')
    t.ok(took.at(-1)! <= TEARDOWN_BOUND_MS, `the last within ${TEARDOWN_BOUND_MS} ms (${took.at(-1)} ms)`)

    const final = await stats()
    t.equal(final.stats.open, 0, 'sseStats().open back to 0')
    await waitFor('the topic released by its last cursor (the instance unsubscribed)', async () => await listening() === 0, 10_000)
    t.pass('every cursor finalized: the topic stopped and its channel was unsubscribed')

    for (const socket of sockets) socket.destroy()
    await drop.remove()
    t.same(leftoverRules().filter(rule => rule.includes(`${from}:${to}`)), [], 'the drop rules are gone')
    const heapAfter = await heap()
    t.ok(heapAfter - heapBefore < 2 * 2 ** 20, `heap back within 2 MB (${((heapAfter - heapBefore) / 2 ** 20).toFixed(2)} MB)`)
    await fetch(`${app.url}/rooms/v/loop?stop=1`)
  })
}
