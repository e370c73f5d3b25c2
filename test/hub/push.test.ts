// Push delivery: a topic writes each batch of frames to every subscriber that is
// caught up and writable. One whose socket fills (its client stopped reading) leaves
// the push set, and the others go on at the publisher's rate; when it reads again it
// catches up through the pull path (the window, then the history) and rejoins the
// push set at the seam, with no gap and no duplicate.

import t from 'tap'
import Fastify from 'fastify'
import http, { type IncomingMessage } from 'node:http'
import fastifyTypedSse from '../../index.js'
import { createHub, memoryEngine } from '../../lib/hub/index.js'
import { isPushable, kPushable, type Pushable } from '../../lib/push.js'
import { waitFor } from '../helpers/wait.js'
import { events, isRun, numbered, sleep, stalledClient, startHubApp, type TestHub } from './helpers.js'

const OTHERS = 199
/** 4 KB events: a stalled socket takes about 4 MB before write() returns false. */
const TEXT = 'x'.repeat(4000)
const BATCH = 10
const BATCH_EVERY_MS = 20

/** The number of subscribers the topic pushes to (the topic's own set; no other way to see it). */
function pushing (hub: TestHub, topic: string): number {
  const topics = (hub as unknown as { topics: Map<string, { pushers: Set<unknown> }> }).topics
  return topics.get(topic)?.pushers.size ?? 0
}

async function open (url: string): Promise<{ request: http.ClientRequest, response: IncomingMessage }> {
  const request = http.get(url, { agent: false })
  const response = await new Promise<IncomingMessage>((resolve, reject) => request.once('response', resolve).once('error', reject))
  request.on('error', () => {})
  return { request, response }
}

/**
 * A client that counts events (blank lines) as they come, without parsing them, so
 * that 199 of them keep up in the test's own process; `last` is the n of its newest event.
 */
async function countingClient (url: string): Promise<{ count: () => number, last: () => number, closed: Promise<void>, leave (): void }> {
  const { request, response } = await open(url)
  let events = 0
  let previous = 0 // the last byte of the previous chunk
  let tail = ''
  response.on('data', (chunk: Buffer) => {
    if (previous === 10 && chunk[0] === 10) events++
    for (let at = chunk.indexOf('\n\n'); at >= 0; at = chunk.indexOf('\n\n', at + 2)) events++
    previous = chunk[chunk.length - 1] as number
    tail = (tail + chunk.toString('latin1', Math.max(0, chunk.length - 5000))).slice(-5000)
  })
  return {
    count: () => events - 1, // the position item is a blank-line block too
    last: () => {
      const at = tail.lastIndexOf('"n":')
      return at < 0 ? 0 : parseInt(tail.slice(at + 4), 10)
    },
    closed: new Promise<void>(resolve => response.once('close', resolve)),
    leave: () => request.destroy()
  }
}

t.test(`a subscriber that stalls leaves the push set and rejoins with no gap and no duplicate, while ${OTHERS} others keep receiving`, async (t) => {
  const { hub, url } = await startHubApp(t, { engine: memoryEngine({ history: 20_000 }) })
  const topic = 'fire'
  const others: Array<Awaited<ReturnType<typeof countingClient>>> = []
  for (let i = 0; i < OTHERS; i++) others.push(await countingClient(`${url}/topics/${topic}/events`))
  const stalled = await stalledClient(`${url}/topics/${topic}/events`)
  t.teardown(() => {
    stalled.leave()
    for (const client of others) client.leave()
  })
  await waitFor(() => pushing(hub, topic) === OTHERS + 1, 10_000, () => `all ${OTHERS + 1} subscribers in the push set (${pushing(hub, topic)})`)
  t.pass(`all ${OTHERS + 1} caught-up subscribers are pushed to`)

  let n = 0
  const publishBatch = async (): Promise<void> => {
    const published: Array<Promise<string>> = []
    for (let i = 0; i < BATCH; i++) published.push(hub.publish(topic, { event: 'message', data: { n: ++n, text: TEXT } }))
    await Promise.all(published)
    await sleep(BATCH_EVERY_MS)
  }
  /** The others' worst lag behind the publisher, in events, sampled after each batch. */
  let worstLag = 0
  const sampleLag = (): void => {
    for (const client of others) worstLag = Math.max(worstLag, n - client.count())
  }

  // Until the stalled client's socket is full (about 4 MB), then on until it is far behind
  // the topic's window of 256 frames, so that it catches up from the history.
  for (let batches = 0; pushing(hub, topic) > OTHERS && batches < 1000; batches++) {
    await publishBatch()
    sampleLag()
  }
  t.equal(pushing(hub, topic), OTHERS, `the stalled subscriber left the push set (after ${n} events)`)
  const leftAt = n
  for (let i = 0; i < 60; i++) {
    await publishBatch()
    sampleLag()
  }
  t.equal(pushing(hub, topic), OTHERS, `still out after ${n - leftAt} more events, while the others are pushed to`)
  await waitFor(() => others.every(client => client.count() === n), 15_000, () => `the others to have all ${n} events (least: ${Math.min(...others.map(c => c.count()))})`)
  t.ok(others.every(client => client.last() === n), `each of the ${OTHERS} others got all ${n} events while the stalled one read nothing`)
  t.ok(worstLag < 256, `the others never fell a window behind the publisher (worst lag ${worstLag} events, ${BATCH} per batch)`)

  // It reads again while the topic goes on: it catches up and rejoins at the seam.
  stalled.read()
  for (let i = 0; i < 60; i++) await publishBatch()
  await waitFor(() => stalled.events.length >= n, 30_000, () => `the stalled client to catch up (${stalled.events.length} of ${n})`)
  await waitFor(() => pushing(hub, topic) === OTHERS + 1, 10_000, () => `the stalled subscriber back in the push set (${pushing(hub, topic)})`)
  for (let i = 0; i < 5; i++) await publishBatch() // delivered by push again
  await waitFor(() => stalled.events.length >= n && others.every(client => client.count() === n), 15_000, 'every client to have every event')
  await sleep(100)
  t.ok(isRun(stalled.events.map(event => numbered(event)), 1, n), `the stalled client got 1..${n}, each once, in order`)
  t.ok(stalled.events.every((event, i) => event.event === undefined && event.id !== undefined && (i === 0 || event.id !== stalled.events[i - 1]?.id)), 'no reset, and every event with its own id')
  t.ok(others.every(client => client.count() === n && client.last() === n), `each of the ${OTHERS} others got all ${n}`)
})

t.test('a subscriber in the push set holds no pending read: the stream stops pulling while the topic pushes, and still gets the end', async (t) => {
  const hub = createHub({ events })
  const app = Fastify({ logger: false })
  await app.register(fastifyTypedSse, { heartbeatInterval: 0 })
  await app.register(hub.plugin)
  /** next() calls of every subscription, and how many of them are unsettled. */
  const reads = { calls: 0, pending: 0, ended: 0 }
  app.get('/events', { schema: { sse: hub.events } }, async (_request, reply) =>
    reply.sseStream((context) => watchedReads(hub.subscribe('watched')(context), reads)))
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })

  const clients = [await countingClient(`${url}/events`), await countingClient(`${url}/events`), await countingClient(`${url}/events`)]
  t.teardown(() => { for (const client of clients) client.leave() })
  await waitFor(() => pushing(hub, 'watched') === clients.length, 10_000, 'the subscribers in the push set')
  const callsWhenJoined = reads.calls
  t.equal(reads.pending, 0, 'once in the push set, no read of a subscription is pending')

  let n = 0
  const published: Array<Promise<string>> = []
  for (let batch = 0; batch < 10; batch++) {
    for (let i = 0; i < 10; i++) published.push(hub.publish('watched', { event: 'message', data: { n: ++n, text: 'x' } }))
    await sleep(5)
  }
  await Promise.all(published)
  await waitFor(() => clients.every(client => client.count() === n && client.last() === n), 10_000, 'every subscriber to get the 100 events')
  t.equal(reads.calls, callsWhenJoined, `100 events pushed to ${clients.length} subscribers with no read at all`)
  t.equal(reads.pending, 0, 'and none pending')

  // The hub closes: each stream, not pulling, is told and reads the end.
  const closed = clients.map(client => client.closed)
  await hub.close()
  await Promise.all(closed)
  t.equal(reads.ended, clients.length, 'every stream read its subscription to the end, and every response ended')
})

/** The subscription's iterator, counting the reads the stream makes; the push sink is handed on. */
function watchedReads<T> (iterable: AsyncIterable<T>, reads: { calls: number, pending: number, ended: number }): AsyncIterable<T> {
  const iterator = iterable[Symbol.asyncIterator]()
  const watched: AsyncIterator<T> & Partial<Pushable> = {
    next: async () => {
      reads.calls++
      reads.pending++
      try {
        const result = await iterator.next()
        if (result.done === true) reads.ended++
        return result
      } finally {
        reads.pending--
      }
    },
    return: async () => await (iterator.return?.() ?? { value: undefined, done: true as const })
  }
  if (isPushable(iterator)) watched[kPushable] = (sink) => iterator[kPushable](sink)
  return { [Symbol.asyncIterator]: () => watched }
}
