// The hub on Redis at its limits: a client that stops reading while 20,000 events
// are published costs the instance a cursor, not a queue; app.close() with 2,000
// subscribers resolves promptly and leaves none of the hub's Redis connections.

import t from 'tap'
import Fastify from 'fastify'
import Redis from 'ioredis'
import http from 'node:http'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import fastifyTypedSse from '../../index.js'
import { createHub } from '../../lib/hub/index.js'
import { redisEngine } from '../../lib/redis/index.js'
import { waitFor } from '../helpers/events.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { Message } from './message.js'
import { post, startInstance } from './helpers.js'

const redisPath = requireRedisServer(t)

interface Memory { heapUsed: number, external: number, arrayBuffers: number }
const MB = 1024 * 1024

if (redisPath !== undefined) {
  t.test('a client that stops reading while 20,000 events are published: the instance\'s memory stays bounded; reading again, it catches up or gets one reset', async (t) => {
    const redis = await startRedis(t, redisPath)
    const instance = await startInstance(t, redis.url)
    const memory = async (): Promise<number> => {
      const usage = await (await fetch(`${instance.url}/memory`)).json() as Memory
      return usage.heapUsed + usage.external
    }

    // node:http's response, paused: the client stops reading (and so does its socket, once its buffer is full).
    const events: EventSourceMessage[] = []
    const parser = createParser({ onEvent: (event) => events.push(event) })
    const agent = new http.Agent({ keepAlive: false })
    t.teardown(() => agent.destroy())
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${instance.url}/rooms/slow/events`, { agent }, resolve).on('error', reject)
    })
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => parser.feed(chunk))
    response.on('error', () => {})
    response.pause()

    await post(`${instance.url}/rooms/warmup/burst?count=500&size=2000`) // the same code paths, warm, before measuring
    const before = await memory()
    const total = 20_000
    const size = 2000
    const burst = await post(`${instance.url}/rooms/slow/burst?count=${total}&size=${size}`)
    t.equal(burst.status, 200)
    const after = await memory()
    const grew = after - before
    const published = total * (size + 40)
    t.ok(grew < 10 * MB, `the instance's memory grew by ${(grew / MB).toFixed(1)} MB while ${(published / MB).toFixed(0)} MB of events were published past the stalled client`)

    response.resume()
    await waitFor('the last event', () => events.at(-1)?.id === burst.body.last, 30_000)
    const resets = events.filter(e => e.event === 'reset')
    const ns = events.filter(e => e.event !== 'reset').map(e => (JSON.parse(e.data) as { n: number }).n)
    t.ok(resets.length <= 1, `at most one reset (${resets.length})`)
    for (const reset of resets) t.same(JSON.parse(reset.data), { reason: 'history-lost' }, 'the history no longer had the client\'s position')
    t.ok(ns.every((n, i) => i === 0 || n === ns[i - 1]! + 1), 'the events it got are in order, none twice')
    const resetAt = events.findIndex(e => e.event === 'reset')
    if (resetAt >= 0) {
      const afterReset = events.slice(resetAt + 1).map(e => (JSON.parse(e.data) as { n: number }).n)
      t.ok(afterReset.length === 0 ? events[resetAt]!.id === burst.body.last : afterReset.at(-1) === total - 1,
        'after the reset it is at the newest event (the reset\'s own id, or the events after it)')
    } else {
      t.same(ns.length, total, 'it caught up with every event')
    }
    t.comment(`after resuming: ${ns.length} events, ${resets.length} reset`)
  })

  t.test('app.close() with 2,000 hub subscribers resolves promptly; CLIENT LIST then shows no connection of the hub\'s, the user\'s client still connected', async (t) => {
    const redis = await startRedis(t, redisPath)
    const admin = new Redis(redis.port, '127.0.0.1')
    t.teardown(() => { admin.disconnect() })
    const client = new Redis(redis.port, '127.0.0.1')
    t.teardown(() => { client.disconnect() })
    const hub = createHub({ events: { message: Message }, engine: redisEngine({ client }) })
    const app = Fastify()
    await app.register(fastifyTypedSse)
    await app.register(hub.plugin)
    app.get<{ Params: { room: string } }>('/rooms/:room/events', { schema: { sse: hub.events } }, async (request, reply) =>
      reply.sseStream(hub.subscribe(`room:${request.params.room}`)))
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    let closed = false
    t.teardown(() => closed ? undefined : app.close())

    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity })
    t.teardown(() => agent.destroy())
    const responses: http.IncomingMessage[] = []
    const open = (room: number): Promise<void> => new Promise((resolve, reject) => {
      http.get(`${url}/rooms/${room}/events`, { agent }, (response) => {
        responses.push(response)
        response.once('data', () => resolve()) // the position line: subscribed
        response.on('error', () => {})
      }).on('error', reject)
    })
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 200 }, (_, i) => open((batch * 200 + i) % 50)))
    }
    t.equal(responses.length, 2000, '2,000 subscribers on 50 topics')
    const pubsub = await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string
    t.equal(pubsub.trim().split('\n').length, 1, 'one subscriber connection for all of them')
    const clientId = await client.client('ID')
    const adminId = await admin.client('ID')

    const ended = Promise.all(responses.map(response => new Promise(resolve => response.once('close', resolve))))
    const started = performance.now()
    await app.close()
    closed = true
    const took = performance.now() - started
    t.ok(took < 5000, `app.close() resolved in ${Math.round(took)} ms`)
    await ended
    await waitFor('only the user\'s client and the test\'s own left', async () => {
      const ids = (await admin.client('LIST') as string).trim().split('\n').map(line => /id=(\d+)/.exec(line)?.[1])
      return ids.length === 2 && ids.includes(String(clientId)) && ids.includes(String(adminId))
    }, 5000)
    t.pass('CLIENT LIST: no connection of the hub\'s')
    t.equal(client.status, 'ready', 'the client the user passed in is still connected')
    t.equal(await client.ping(), 'PONG')
  })
}
