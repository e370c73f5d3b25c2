// Appends started one after the other are stored in that order, also while Redis
// does not yet have the engine's script (a new Redis, or one that restarted): an
// append that met NOSCRIPT and was sent again as EVAL must not land after appends
// started later that found the script loaded by then. A publisher on a timer, as in
// the lossy-link test, saw "65 after 240" at its start.

import t, { type Test } from 'tap'
import Redis from 'ioredis'
import net, { type AddressInfo } from 'node:net'
import { redisEngine } from '../../lib/redis/index.js'
import { waitFor } from '../helpers/events.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'

const redisPath = requireRedisServer(t)

const ROUNDS = 100
const PER_ROUND = 10

/**
 * A proxy to Redis that hands its replies on in small pieces, one a millisecond, as a
 * slow or lossy link does: the NOSCRIPT replies of one round come in over several
 * turns of the event loop, while later rounds are being sent.
 */
async function tricklingProxy (t: Test, port: number): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const redis = net.connect(port, '127.0.0.1')
    sockets.add(client).add(redis)
    client.on('error', () => redis.destroy()).on('close', () => redis.destroy())
    redis.on('error', () => client.destroy()).on('close', () => client.destroy())
    client.pipe(redis)
    let queue = Buffer.alloc(0)
    let timer: NodeJS.Timeout | undefined
    const next = (): void => {
      timer = undefined
      if (queue.length === 0) return
      client.write(queue.subarray(0, 64))
      queue = queue.subarray(64)
      timer = setTimeout(next, 1)
    }
    redis.on('data', (chunk: Buffer) => {
      queue = Buffer.concat([queue, chunk])
      timer ??= setTimeout(next, 1)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  return (server.address() as AddressInfo).port
}

if (redisPath !== undefined) {
  t.test('appends started in order are stored in order while Redis loads the script, on first use and after a restart', async (t) => {
    const redis = await startRedis(t, redisPath, { aof: true })
    const client = new Redis(await tricklingProxy(t, redis.port), '127.0.0.1', { retryStrategy: () => 50 })
    client.on('error', () => {})
    t.teardown(() => { client.disconnect() })
    const engine = redisEngine({ client, history: 100_000, publishTimeoutMs: 30_000 })
    t.teardown(() => engine.close())

    for (const pass of ['first use', 'after a restart']) {
      if (pass === 'after a restart') {
        await redis.stop()
        await redis.start()
      }
      const topic = `order:${pass}`
      // The engine's connection is ready (it answered) before the appends start.
      await waitFor(`${pass}: the engine answers`, async () => await engine.newest(topic).then(() => true, () => false), 10_000)
      const appends: Array<Promise<string>> = []
      // On a timer, as a publisher does: later rounds start while Redis still answers earlier ones.
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < PER_ROUND; i++) appends.push(engine.append(topic, `data: ${round * PER_ROUND + i}\n`))
        await new Promise(resolve => setTimeout(resolve, 2))
      }
      await Promise.all(appends)
      const page = await engine.read(topic, undefined, ROUNDS * PER_ROUND)
      t.equal(page.status, 'ok')
      const stored = page.status === 'ok' ? page.entries.map(entry => Number(/data: (\d+)/.exec(entry.body)?.[1])) : []
      const firstBreak = stored.findIndex((n, i) => n !== i)
      t.equal(firstBreak, -1, `${pass}: every append stored in the order it was started (${firstBreak === -1 ? 'in order' : `${stored[firstBreak]} at ${firstBreak}`})`)
    }
  })
}
