// The hub's continuity rule with a real client (the `eventsource` package): the
// position item, resuming after the server drops the stream, `from: 'earliest'`,
// and exactly one `reset` for every kind of resume point that is gone.

import t, { type Test } from 'tap'
import { EventSource } from 'eventsource'
import { memoryEngine, ZERO_ID } from '../../lib/hub/index.js'
import { waitFor } from '../helpers/wait.js'
import { isRun, numbered, sleep, startHubApp } from './helpers.js'

interface Received {
  type: string
  id: string
  data: string
}

/** An EventSource that records every `message` and `reset`, and how many times it opened. */
function follow (url: string): { source: EventSource, received: Received[], opens: { count: number }, messages: () => number[], resets: () => Received[] } {
  const source = new EventSource(url)
  const received: Received[] = []
  const opens = { count: 0 }
  source.addEventListener('open', () => { opens.count++ })
  for (const type of ['message', 'typing', 'reset']) {
    source.addEventListener(type, (event) => received.push({ type, id: event.lastEventId, data: event.data }))
  }
  return {
    source,
    received,
    opens,
    messages: () => received.filter(event => event.type === 'message').map(event => numbered(event)),
    resets: () => received.filter(event => event.type === 'reset')
  }
}

const text = (n: number): { event: 'message', data: { n: number, text: string } } => ({ event: 'message', data: { n, text: `message ${n}` } })

// The position item's "stores the id" half needs a WHATWG parser: eventsource-parser
// (under the eventsource package) drops an event with no data before it reads the id,
// so that half is proven in Chromium (browser.test.ts). Here: the bytes, and no event.
/** The stream's bytes up to its first blank line (they may come in more than one chunk). */
async function firstBytes (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder()
  let text = ''
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  return text
}

t.test('the position item is the id line alone: no event is dispatched, history before it is not replayed', async (t) => {
  const { hub, url } = await startHubApp(t)
  const topic = 'room:position'
  for (let n = 1; n <= 3; n++) await hub.publish(topic, text(n))
  const newest = await hub.publish(topic, text(4))

  const response = await fetch(`${url}/topics/${encodeURIComponent(topic)}/events`)
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  t.equal(await firstBytes(reader), `retry: 50\nid: ${newest}\n\n`, 'the first bytes: retry, then the position')
  await reader.cancel()

  const client = follow(`${url}/topics/${encodeURIComponent(topic)}/events`)
  t.teardown(() => client.source.close())
  await waitFor(() => client.opens.count === 1, 5000, 'the stream to open')
  await sleep(100)
  t.same(client.received, [], 'no event was dispatched')
  await hub.publish(topic, text(5))
  await waitFor(() => client.received.length === 1, 5000, 'the live event')
  t.same(client.messages(), [5], 'only what came after the position')
})

t.test('on an empty topic the position is ZERO_ID, a valid resume point', async (t) => {
  const { hub, url } = await startHubApp(t)
  const response = await fetch(`${url}/topics/empty/events`)
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  t.equal(await firstBytes(reader), `retry: 50\nid: ${ZERO_ID}\n\n`, 'the position of an empty topic')
  await reader.cancel()

  const client = follow(`${url}/topics/empty/events?after=${ZERO_ID}`)
  t.teardown(() => client.source.close())
  await waitFor(() => client.opens.count === 1, 5000, 'the stream to open')
  const id = await hub.publish('empty', text(1))
  await waitFor(() => client.received.length === 1, 5000, 'the first event')
  t.same(client.received, [{ type: 'message', id, data: JSON.stringify({ n: 1, text: 'message 1' }) }], 'resumed from ZERO_ID: delivered once, with its id, no reset')
})

t.test('a client dropped by the server again and again gets every event once, in order', async (t) => {
  const { hub, url, lastEventIds, drop } = await startHubApp(t)
  const topic = 'room:drops'
  const client = follow(`${url}/topics/${encodeURIComponent(topic)}/events`)
  t.teardown(() => client.source.close())
  await waitFor(() => client.opens.count === 1, 5000, 'the stream to open')

  const total = 300
  let n = 0
  for (let round = 1; round <= 5; round++) {
    await waitFor(() => client.opens.count === round, 5000, `the stream to be open (round ${round})`)
    for (let i = 0; i < 60; i++) {
      await hub.publish(topic, text(++n))
      if (i === 30) t.equal(drop(), 1, `drop ${round}: while events keep coming, some published while the client is away`)
      if (i % 7 === 0) await sleep(2)
    }
  }
  await waitFor(() => client.messages().length >= total, 15_000, () => `all ${total} events (got ${client.messages().length})`)
  await sleep(100)
  t.ok(isRun(client.messages(), 1, total), 'every event exactly once, in order: no gap, no duplicate at any seam')
  t.same(client.resets(), [], 'no reset')
  t.equal(lastEventIds.length, 6, 'it reconnected after each drop')
  t.ok(lastEventIds.slice(1).every(id => id !== undefined), 'each reconnect carried a Last-Event-ID')
})

t.test("from: 'earliest' replays the history held, then goes on live", async (t) => {
  const { hub, url } = await startHubApp(t, { engine: memoryEngine({ history: 5 }) })
  for (let n = 1; n <= 8; n++) await hub.publish('log', text(n))
  const client = follow(`${url}/topics/log/events?from=earliest`)
  t.teardown(() => client.source.close())
  await waitFor(() => client.messages().length === 5, 5000, 'the history')
  t.same(client.messages(), [4, 5, 6, 7, 8], 'the five events the history holds, oldest first')
  await hub.publish('log', text(9))
  await waitFor(() => client.messages().length === 6, 5000, 'the live event')
  t.same(client.messages(), [4, 5, 6, 7, 8, 9])
  t.same(client.resets(), [])
})

/** Subscribes with a resume id that is gone and checks the one reset, its id, and what follows. */
async function expectOneReset (t: Test, setup: (hub: HubApp['hub']) => Promise<{ topic: string, after: string, reason: string }>, engine?: ReturnType<typeof memoryEngine>): Promise<void> {
  const { hub, url, lastEventIds, drop } = await startHubApp(t, engine === undefined ? {} : { engine })
  const { topic, after, reason } = await setup(hub)
  const current = await hub.publish(topic, text(100))
  const client = follow(`${url}/topics/${encodeURIComponent(topic)}/events?after=${encodeURIComponent(after)}`)
  t.teardown(() => client.source.close())
  await waitFor(() => client.resets().length === 1, 5000, 'the reset')
  t.same(client.resets(), [{ type: 'reset', id: current, data: JSON.stringify({ reason }) }], `one reset (${reason}) whose id is the current position`)
  t.same(client.messages(), [], 'no event of the history before it')

  const live = await hub.publish(topic, text(101))
  await waitFor(() => client.messages().length === 1, 5000, 'the live event')
  t.same(client.received.at(-1), { type: 'message', id: live, data: JSON.stringify({ n: 101, text: 'message 101' }) }, 'then live events')

  drop()
  await waitFor(() => lastEventIds.length === 2 && client.opens.count === 2, 5000, 'the reconnect')
  t.equal(lastEventIds[1], live, 'the reset moved the client forward: it resumes from its last event')
  await hub.publish(topic, text(102))
  await waitFor(() => client.messages().length === 2, 5000, 'the next live event')
  t.same(client.messages(), [101, 102])
  t.equal(client.resets().length, 1, 'the same gap is not reported twice')
}

type HubApp = Awaited<ReturnType<typeof startHubApp>>

t.test('unknown-id: a malformed resume id gets one reset, then live events', async (t) => {
  await expectOneReset(t, async (hub) => {
    await hub.publish('a', text(1))
    return { topic: 'a', after: 'not-an-id', reason: 'unknown-id' }
  })
})

t.test('unknown-id: an id newer than anything published gets one reset, then live events', async (t) => {
  await expectOneReset(t, async (hub) => {
    await hub.publish('a', text(1))
    return { topic: 'a', after: `${Date.now() + 3_600_000}-0`, reason: 'unknown-id' }
  })
})

t.test("unknown-id: another topic's id gets one reset, then live events", async (t) => {
  await expectOneReset(t, async (hub) => {
    await hub.publish('a', text(1))
    await sleep(5)
    const other = await hub.publish('b', text(1)) // between two events of 'a', but no event of 'a'
    await sleep(5)
    await hub.publish('a', text(2))
    return { topic: 'a', after: other, reason: 'unknown-id' }
  })
})

t.test('history-lost: an id trimmed from the history gets one reset, then live events', async (t) => {
  await expectOneReset(t, async (hub) => {
    const first = await hub.publish('a', text(1))
    for (let n = 2; n <= 10; n++) await hub.publish('a', text(n))
    return { topic: 'a', after: first, reason: 'history-lost' }
  }, memoryEngine({ history: 3 }))
})

t.test('history-lost: an id aged out of the history gets one reset, then live events', async (t) => {
  await expectOneReset(t, async (hub) => {
    const first = await hub.publish('a', text(1))
    await sleep(250)
    return { topic: 'a', after: first, reason: 'history-lost' }
  }, memoryEngine({ maxAgeMs: 100 }))
})

t.test('history-lost: an id of a history dropped after idleTtlMs gets one reset', async (t) => {
  // The clock jumps past the TTL once, instead of a short TTL that a busy machine could outlast.
  const realNow = Date.now
  let offset = 0
  Date.now = () => realNow() + offset
  t.teardown(() => { Date.now = realNow })
  await expectOneReset(t, async (hub) => {
    const first = await hub.publish('a', text(1))
    offset += 60_000
    return { topic: 'a', after: first, reason: 'history-lost' }
  }, memoryEngine({ idleTtlMs: 30_000 }))
})

t.test("onGap: 'end' sends the reset and ends the stream; the client comes back from the reset's id", async (t) => {
  const { hub, url, lastEventIds } = await startHubApp(t)
  await hub.publish('a', text(1))
  const current = await hub.publish('a', text(2))
  const client = follow(`${url}/topics/a/events?onGap=end&after=bogus`)
  t.teardown(() => client.source.close())
  await waitFor(() => lastEventIds.length === 2 && client.opens.count === 2, 5000, 'the end and the reconnect')
  t.same(client.resets(), [{ type: 'reset', id: current, data: '{"reason":"unknown-id"}' }], 'one reset')
  t.same(lastEventIds, [undefined, current], 'the stream ended after it; the reconnect resumes from the reset\'s id')
  await hub.publish('a', text(3))
  await waitFor(() => client.messages().length === 1, 5000, 'the live event')
  t.same(client.messages(), [3])
  t.equal(client.resets().length, 1)
})

t.test('a resume id inside the history replays what came after it, then live, with no duplicate at the seam', async (t) => {
  const { hub, url } = await startHubApp(t)
  const ids: string[] = []
  for (let n = 1; n <= 1200; n++) ids.push(await hub.publish('a', text(n))) // more than a page and more than the window
  const client = follow(`${url}/topics/a/events?after=${ids[499]}`)
  t.teardown(() => client.source.close())
  // Live events while the replay runs: they must come once, after the replay.
  for (let n = 1201; n <= 1300; n++) await hub.publish('a', text(n))
  await waitFor(() => client.messages().length >= 800, 10_000, () => `the replay and the live events (got ${client.messages().length})`)
  await sleep(100)
  t.ok(isRun(client.messages(), 501, 1300), 'events 501 to 1300, each once, in order')
  t.same(client.resets(), [])
})
