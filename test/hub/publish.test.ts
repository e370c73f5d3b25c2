// publish: checked and serialized once, whatever the number of subscribers; a bad
// item or topic throws and stores nothing; createHub and subscribe refuse bad
// options; a closed hub refuses both.

import t from 'tap'
import { Type } from '@sinclair/typebox'
import { createHub, memoryEngine, ZERO_ID } from '../../lib/hub/index.js'
import { connect, type SseClient } from '../helpers/sse-client.js'
import { waitFor } from '../helpers/wait.js'
import { events, startHubApp } from './helpers.js'

t.test('publish serializes each event once, however many subscribers get it', async (t) => {
  const { hub, url } = await startHubApp(t)
  const subscribers = 200
  const clients: SseClient[] = []
  for (let i = 0; i < subscribers; i++) clients.push(await connect(`${url}/topics/room/events`))
  t.teardown(() => { for (const client of clients) client.leave() })
  // Each client has its position once its stream is open; the parser dispatches no event for it.
  await waitFor(() => clients.every(client => client.response.statusCode === 200), 10_000, 'every stream to open')
  await new Promise(resolve => setTimeout(resolve, 100))

  let serializations = 0
  const data = { n: 1, text: 'hello', toJSON () { serializations++; return { n: 1, text: 'hello' } } }
  const id = await hub.publish('room', { event: 'message', data })
  await waitFor(() => clients.every(client => client.events.length === 1), 10_000, () => `every subscriber to get it (${clients.filter(c => c.events.length === 1).length} of ${subscribers})`)
  t.equal(serializations, 1, `serialized once for ${subscribers} subscribers`)
  t.ok(clients.every(client => client.events[0]?.id === id && client.events[0]?.data === '{"n":1,"text":"hello"}'), 'every subscriber got the same event')
})

t.test('an invalid item throws FST_SSE_INVALID_EVENT with the schema errors, and nothing is stored', async (t) => {
  const engine = memoryEngine()
  const hub = createHub({ events, engine })
  t.teardown(() => hub.close())
  const bad: Array<[string, unknown, RegExp]> = [
    ['a wrong payload', { event: 'message', data: { n: 'one', text: 'x' } }, /does not match/],
    ['a payload missing a field', { event: 'typing', data: {} }, /does not match/],
    ['an undeclared event', { event: 'shout', data: { n: 1, text: 'x' } }, /unknown event "shout"/],
    ['an id', { event: 'message', data: { n: 1, text: 'x' }, id: '5' }, /"id" is not allowed.*engine gives every event its id/],
    ['a retry', { event: 'message', data: { n: 1, text: 'x' }, retry: 10 }, /"retry" is not allowed/],
    ['no data', { event: 'typing' }, /does not match|needs data/],
    ['not an object', 'hello', /\{ event\?, data \}/],
    ['null', null, /\{ event\?, data \}/]
  ]
  for (const [what, item, message] of bad) {
    await t.rejects(hub.publish('room', item as never), { code: 'FST_SSE_INVALID_EVENT', message }, what)
  }
  const error = await hub.publish('room', { event: 'message', data: { n: 0, text: 'x' } }).catch((err: unknown) => err)
  t.same((error as { errors: unknown }).errors, [{ path: '/n', message: 'Expected integer to be greater or equal to 1' }], 'the schema errors are on the error')
  t.same(await engine.read('room', undefined, 10), { status: 'ok', entries: [] }, 'nothing was stored')
  t.equal(await engine.newest('room'), ZERO_ID)
})

t.test('an invalid topic throws FST_SSE_INVALID_TOPIC from publish and subscribe, and nothing is stored', async (t) => {
  const engine = memoryEngine()
  const hub = createHub({ events, engine })
  t.teardown(() => hub.close())
  const item = { event: 'message', data: { n: 1, text: 'x' } } as const
  const bad: Array<[string, unknown]> = [
    ['empty', ''],
    ['too long', 'x'.repeat(257)],
    ['a line break', 'room\n1'],
    ['a NUL', 'room\u00001'],
    ['a C1 control', 'room\u00851'],
    ['a lone surrogate', 'room\ud800'],
    ['not a string', 42]
  ]
  for (const [what, topic] of bad) {
    await t.rejects(hub.publish(topic as string, item), { code: 'FST_SSE_INVALID_TOPIC' }, `publish: ${what}`)
    t.throws(() => hub.subscribe(topic as string), { code: 'FST_SSE_INVALID_TOPIC' }, `subscribe: ${what}`)
  }
  t.ok(await hub.publish('x'.repeat(256), item), '256 characters are fine')
  t.ok(await hub.publish('room: 1/ü ✓', item), 'spaces, slashes and any printable character are fine')
  t.equal(await engine.newest('room\n1'), ZERO_ID, 'nothing was stored under a bad topic')
})

t.test('createHub refuses bad events and options, and reserves reset', async (t) => {
  t.throws(() => createHub({ events: { reset: Type.Object({}) } } as never), { code: 'FST_SSE_INVALID_SCHEMA', message: /"reset" is reserved/ })
  t.throws(() => createHub({ events: { error: Type.Object({}) } }), { code: 'FST_SSE_INVALID_SCHEMA', message: /"error" is reserved/ })
  t.throws(() => createHub({ events: { 'stream-error': Type.Object({}) } }), { code: 'FST_SSE_INVALID_SCHEMA', message: /reserved/ })
  t.throws(() => createHub({ events: { message: { type: 'string' } } }), { code: 'FST_SSE_INVALID_SCHEMA' }, 'not a schema')
  t.throws(() => createHub({ events: 'message' } as never), { code: 'FST_SSE_INVALID_SCHEMA' })
  t.throws(() => createHub(undefined as never), { code: 'FST_SSE_INVALID_OPTION' })
  t.throws(() => createHub({ events, history: 10 } as never), { code: 'FST_SSE_INVALID_OPTION', message: /no option "history"/ })
  t.throws(() => createHub({ events, engine: {} as never }), { code: 'FST_SSE_INVALID_OPTION', message: /engine must implement/ })
  for (const options of [{ history: 0 }, { history: 1.5 }, { maxAgeMs: -1 }, { idleTtlMs: 'soon' }]) {
    t.throws(() => memoryEngine(options as never), { code: 'FST_SSE_INVALID_OPTION' }, `memoryEngine(${JSON.stringify(options)})`)
  }
  const hub = createHub({ events })
  t.teardown(() => hub.close())
  t.same(Object.keys(hub.events), ['message', 'typing', 'reset'], 'hub.events: the events plus reset')
  t.throws(() => hub.subscribe('room', { from: 'start' } as never), { code: 'FST_SSE_INVALID_OPTION', message: /from must be/ })
  t.throws(() => hub.subscribe('room', { onGap: 'ignore' } as never), { code: 'FST_SSE_INVALID_OPTION', message: /onGap must be/ })
  t.throws(() => hub.subscribe('room', { lastEventId: 5 } as never), { code: 'FST_SSE_INVALID_OPTION' })
  t.throws(() => hub.subscribe('room', { since: 'now' } as never), { code: 'FST_SSE_INVALID_OPTION', message: /no option "since"/ })
})

t.test('a closed hub refuses publish and subscribe with a clear error, and ends its subscriptions', async (t) => {
  const hub = createHub({ events })
  const source = hub.subscribe('room')
  const controller = new AbortController()
  const subscription = source({ signal: controller.signal, lastEventId: undefined })[Symbol.asyncIterator]()
  const first = await subscription.next()
  t.same(first.value, { text: `id: ${ZERO_ID}\n\n`, id: ZERO_ID }, 'the position, as already-framed bytes')
  const pending = subscription.next()
  await hub.close()
  t.same(await pending, { value: undefined, done: true }, 'close ends a subscription waiting for an event')
  await t.rejects(hub.publish('room', { event: 'message', data: { n: 1, text: 'x' } }), { code: 'FST_SSE_HUB_UNAVAILABLE', message: /closed/ })
  t.throws(() => hub.subscribe('room'), { code: 'FST_SSE_HUB_UNAVAILABLE', message: /closed/ })
  const late = source({ signal: controller.signal, lastEventId: undefined })[Symbol.asyncIterator]()
  t.same(await late.next(), { value: undefined, done: true }, 'a source started after close ends at once')
  t.equal(hub.close(), hub.close(), 'close is idempotent')
})

t.test('the signal ends a subscription at once, also one waiting for an event', async (t) => {
  const hub = createHub({ events })
  t.teardown(() => hub.close())
  const controller = new AbortController()
  const subscription = hub.subscribe('room')({ signal: controller.signal, lastEventId: undefined })[Symbol.asyncIterator]()
  await subscription.next()
  const pending = subscription.next()
  controller.abort()
  t.same(await pending, { value: undefined, done: true })
  t.same(await subscription.next(), { value: undefined, done: true })
})

t.test('close waits for publishes in flight before it closes the engine', async (t) => {
  const inner = memoryEngine()
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  const order: string[] = []
  const engine = {
    ...bind(inner),
    append: async (topic: string, body: string) => { await gate; const id = await inner.append(topic, body); order.push('appended'); return id },
    close: async () => { order.push('engine closed'); await inner.close() }
  }
  const hub = createHub({ events, engine })
  const published = hub.publish('room', { event: 'message', data: { n: 1, text: 'x' } })
  const closed = hub.close()
  setTimeout(release, 50)
  await closed
  t.ok(await published, 'the publish in flight resolved')
  t.same(order, ['appended', 'engine closed'])
})

function bind (engine: ReturnType<typeof memoryEngine>): ReturnType<typeof memoryEngine> {
  return {
    append: engine.append.bind(engine),
    read: engine.read.bind(engine),
    newest: engine.newest.bind(engine),
    listen: engine.listen.bind(engine),
    close: engine.close.bind(engine)
  }
}

t.test('hub.plugin: twice on one app, two hubs on one app, one hub on two apps', async (t) => {
  const Fastify = (await import('fastify')).default
  const shared = createHub({ events })
  const other = createHub({ events })
  const first = Fastify()
  const second = Fastify()
  await first.register(shared.plugin)
  await first.register(shared.plugin)
  await first.register(other.plugin)
  await second.register(shared.plugin)
  await first.ready()
  await second.ready()
  await first.close()
  t.ok(await shared.publish('room', { event: 'message', data: { n: 1, text: 'x' } }), 'the shared hub still serves the app that is open')
  await t.rejects(other.publish('room', { event: 'message', data: { n: 1, text: 'x' } }), { code: 'FST_SSE_HUB_UNAVAILABLE' }, 'the other hub closed with its only app')
  await second.close()
  await t.rejects(shared.publish('room', { event: 'message', data: { n: 1, text: 'x' } }), { code: 'FST_SSE_HUB_UNAVAILABLE' }, 'closed with the last app that registered it')
})

t.test('one engine listener per topic with subscribers, shared by them, stopped when the last one leaves', async (t) => {
  const inner = memoryEngine()
  const listening = new Map<string, number>()
  const engine = {
    ...bind(inner),
    listen: (topic: string, listener: Parameters<typeof inner.listen>[1]) => {
      listening.set(topic, (listening.get(topic) ?? 0) + 1)
      const stop = inner.listen(topic, listener)
      return () => { listening.set(topic, (listening.get(topic) ?? 0) - 1); stop() }
    }
  }
  const hub = createHub({ events, engine })
  t.teardown(() => hub.close())
  const open = (topic: string): { iterator: AsyncIterator<unknown>, controller: AbortController } => {
    const controller = new AbortController()
    return { iterator: hub.subscribe(topic)({ signal: controller.signal, lastEventId: undefined })[Symbol.asyncIterator](), controller }
  }
  const subscribers = [open('a'), open('a'), open('a'), open('b')]
  for (const { iterator } of subscribers) await iterator.next()
  t.same(Object.fromEntries(listening), { a: 1, b: 1 }, 'one listener per topic, however many subscribers')
  const pending = subscribers.map(({ iterator }) => iterator.next())
  await hub.publish('a', { event: 'message', data: { n: 1, text: 'x' } })
  const received = await Promise.all(pending.slice(0, 3))
  t.ok(received.every(result => result.value === received[0]?.value), 'the subscribers of a topic get the very same frame object')
  subscribers[0]?.controller.abort()
  await subscribers[1]?.iterator.return?.()
  t.equal(listening.get('a'), 1, 'still listening while one subscriber is left')
  subscribers[2]?.controller.abort()
  t.equal(listening.get('a'), 0, 'stopped when the last one left')
  const again = open('a')
  await again.iterator.next()
  t.equal(listening.get('a'), 1, 'a new subscriber listens again')
  again.controller.abort()
  subscribers[3]?.controller.abort()
  t.same(Object.fromEntries(listening), { a: 0, b: 0 })
})
