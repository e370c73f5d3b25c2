// A promoted replica that lost the tail and whose clock is behind gives the next
// events the stream ids of the lost ones (Redis counts on from the last id it has).
// Those positions then name other events than the ones the clients saw. The hub's
// ids carry each event's tag, so an instance tells a reissued position from the event
// it delivered: open streams get one reset, a client resuming with a lost id gets one
// reset, and nobody is handed the other history's events as if they came next.
//
// The takeover is played on one redis-server: the stream is written back without its
// last three entries, then the next events are appended at the lost stream ids with
// new tags and announced as the engine's script announces them (a real replica's clock
// cannot be set behind here).

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

const body = (n: number): string => `event: message\ndata: {"n":${n},"from":"test"}\n`
const numbers = (reader: EventStreamReader): Array<number | string> =>
  reader.events.map(e => e.event === 'reset' ? 'reset' : (JSON.parse(e.data) as { n: number }).n)

if (redisPath !== undefined) {
  t.test('positions reissued after a lost tail: open streams get one reset, a client resuming with a lost id gets one reset, nobody gets the other history as new', async (t) => {
    const redis = await startRedis(t, redisPath)
    const client = new Redis(redis.port, '127.0.0.1')
    const admin = new Redis(redis.port, '127.0.0.1')
    t.teardown(() => { client.disconnect(); admin.disconnect() })
    const hub = createHub({ events: { message: Message }, engine: redisEngine({ client }) })
    const app = Fastify()
    await app.register(fastifyTypedSse)
    await app.register(hub.plugin)
    app.get('/events', { schema: { sse: hub.events } }, async (_request, reply) => reply.sseStream(hub.subscribe('room:tail')))
    t.teardown(() => app.close())
    const url = await app.listen({ port: 0, host: '127.0.0.1' })

    const open = new EventStreamReader(await fetch(`${url}/events`))
    t.teardown(() => open.cancel())
    await waitFor('the stream open', () => app.sseStats().open === 1, 5000)
    const ids: string[] = []
    for (let n = 0; n < 10; n++) ids.push(await hub.publish('room:tail', { event: 'message', data: { n, from: 'test' } }))
    await open.readUntil(events => events.length >= 10, 5000)
    for (const id of ids) t.match(id, /^\d+-\d+-[0-9a-z]{8}$/, `the id ${id} carries its tag`)

    // The takeover: the last three entries (n = 7, 8, 9) are gone, the stream goes on from n = 6.
    const key = 'sse:room:tail'
    const kept = (await admin.xrange(key, '-', '+')).slice(0, 7)
    await admin.del(key)
    for (const [id, fields] of kept) await admin.xadd(key, id, ...fields)
    // The next two events get the lost stream ids of n = 7 and 8, with new tags.
    let previous = ids[6] as string
    for (const [i, n] of [[7, 100], [8, 101]] as const) {
      const streamId = (ids[i] as string).split('-').slice(0, 2).join('-')
      const tag = `other${i}00`
      await admin.multi()
        .xadd(key, streamId, tag, body(n))
        .publish(key, `${streamId}-${tag}\n${previous}\n${body(n)}`)
        .exec()
      previous = `${streamId}-${tag}`
    }

    await open.readUntil(events => events.some(e => e.event === 'reset'), 10_000)
    const reset = open.events.find(e => e.event === 'reset')
    t.equal(reset?.id, previous, 'the open stream: a reset to the new history\'s position')
    t.same(JSON.parse(reset?.data ?? '{}'), { reason: 'history-lost' })

    const resumed = new EventStreamReader(await fetch(`${url}/events`, { headers: { 'last-event-id': ids[9] as string } }))
    t.teardown(() => resumed.cancel())
    await resumed.readUntil(events => events.length >= 1, 10_000)
    t.equal(resumed.events[0]?.event, 'reset', 'a client resuming with a lost id: a reset first')
    t.equal(resumed.events[0]?.id, previous, 'to the new history\'s position')

    const resumedAtReissued = new EventStreamReader(await fetch(`${url}/events`, { headers: { 'last-event-id': ids[7] as string } }))
    t.teardown(() => resumedAtReissued.cancel())
    await resumedAtReissued.readUntil(events => events.length >= 1, 10_000)
    t.equal(resumedAtReissued.events[0]?.event, 'reset', 'a client resuming with the id of a lost event whose stream id was reissued: a reset')

    await hub.publish('room:tail', { event: 'message', data: { n: 200, from: 'test' } })
    await open.readUntil(events => events.some(e => e.data.includes('"n":200')), 10_000)
    await resumed.readUntil(events => events.some(e => e.data.includes('"n":200')), 10_000)
    t.same(numbers(open), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'reset', 200], 'the open stream: its events, one reset, then the new events; never 100 or 101')
    t.same(numbers(resumed), ['reset', 200], 'the resumed stream: one reset, then the new events')
  })
}
