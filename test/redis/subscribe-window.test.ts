// The window between a topic's first position and its live subscription: an event
// published after the instance read its starting position but before its SUBSCRIBE
// took effect reaches no live listener. The engine covers it with the resync it
// sends once Redis confirms the subscription; this test makes the window wide and
// puts an event in it, with the confirmation arriving before the position does.

import t from 'tap'
import Fastify from 'fastify'
import Redis from 'ioredis'
import fastifyTypedSse from '../../index.js'
import { createHub } from '../../lib/hub/index.js'
import { redisEngine } from '../../lib/redis/index.js'
import { EventStreamReader, waitFor } from '../helpers/events.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { Message } from './message.js'

const redisPath = requireRedisServer(t)

if (redisPath !== undefined) {
  t.test('an event published between the first position and the live subscription is delivered without waiting for the next one', async (t) => {
    const redis = await startRedis(t, redisPath)
    const publisherClient = new Redis(redis.port, '127.0.0.1')
    t.teardown(() => { publisherClient.disconnect() })
    const publisher = createHub({ events: { message: Message }, engine: redisEngine({ client: publisherClient }) })
    t.teardown(() => publisher.close())
    await publisher.publish('room:window', { event: 'message', data: { n: 0, from: 'publisher' } })

    // The engine's connections (duplicates of the user's client), slowed down on purpose:
    // the topic's first XREVRANGE runs at once but its reply is held back 600 ms; the
    // subscriber connection's SUBSCRIBE is sent 200 ms late. An event is published in between.
    const client = new Redis(redis.port, '127.0.0.1')
    t.teardown(() => { client.disconnect() })
    const timeline: string[] = []
    let executed!: () => void
    const newestExecuted = new Promise<void>(resolve => { executed = resolve })
    const duplicate = client.duplicate.bind(client)
    client.duplicate = ((override?: Parameters<Redis['duplicate']>[0]) => {
      const connection = duplicate(override)
      const xrevrange = connection.xrevrange.bind(connection) as (...args: unknown[]) => Promise<unknown>
      let held = false
      connection.xrevrange = (async (...args: unknown[]) => {
        const reply = await xrevrange(...args)
        if (!held) {
          held = true
          executed()
          await new Promise(resolve => setTimeout(resolve, 600))
          timeline.push('position')
        }
        return reply
      }) as typeof connection.xrevrange
      const subscribe = connection.subscribe.bind(connection) as (...channels: string[]) => Promise<unknown>
      connection.subscribe = (async (...channels: string[]) => {
        await new Promise(resolve => setTimeout(resolve, 200))
        const count = await subscribe(...channels)
        timeline.push('subscribed')
        return count
      }) as typeof connection.subscribe
      return connection
    }) as typeof client.duplicate
    const hub = createHub({ events: { message: Message }, engine: redisEngine({ client }) })
    const app = Fastify()
    await app.register(fastifyTypedSse)
    await app.register(hub.plugin)
    app.get('/events', { schema: { sse: hub.events } }, async (_request, reply) => reply.sseStream(hub.subscribe('room:window')))
    t.teardown(() => app.close())
    const url = await app.listen({ port: 0, host: '127.0.0.1' })

    const reader = new EventStreamReader(await fetch(`${url}/events`)) // from now: the position is where it starts
    t.teardown(() => reader.cancel())
    await newestExecuted
    await publisher.publish('room:window', { event: 'message', data: { n: 1, from: 'publisher' } })
    timeline.push('published')
    await waitFor('the position and the subscription', () => timeline.length === 3, 5000)
    t.same(timeline, ['published', 'subscribed', 'position'], 'the event fell in the window; Redis confirmed the subscription before the position came back')

    await reader.readUntil(events => events.length >= 1, 3000).catch(() => {})
    t.same(reader.events.map(e => JSON.parse(e.data).n), [1], 'the event after the position, with no later publish needed')
  })
}
