// Rule 6: when the client goes away, the source is stopped at once: its signal
// aborts, its iterator's return() is called exactly once even while it is blocked
// in an await, and nothing of the stream (listeners, heartbeat timers) outlives it.
// Real sockets on 127.0.0.1; the client is node:http so that it can leave at a
// chosen moment.

import { test } from 'tap'
import http from 'node:http'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SseEvent, SseSourceContext } from '../index.js'
import { listen } from './helpers/server.js'
import { connect } from './helpers/sse-client.js'
import { trackTimers, waitFor } from './helpers/wait.js'

/** How long "at once" may take on a busy machine; waiting for a blocked await (or a heartbeat) takes far longer. */
const PROMPTLY_MS = 500

/** What a test sees of one source: its context, its iterator's calls, and when its finally ran. */
interface Probe {
  context: SseSourceContext | undefined
  abortedAt: number | undefined
  pullTimes: number[]
  returnCalls: number
  finallyAt: number | undefined
}

function newProbe (): Probe {
  return { context: undefined, abortedAt: undefined, pullTimes: [], returnCalls: 0, finallyAt: undefined }
}

/** A hand-written async iterator over `generator`, so that calls to next() and return() can be counted. */
function observed (probe: Probe, generator: AsyncGenerator<SseEvent> | Generator<SseEvent>): AsyncIterableIterator<SseEvent> {
  const iterator: AsyncIterableIterator<SseEvent> = {
    [Symbol.asyncIterator] () { return iterator },
    async next () {
      probe.pullTimes.push(performance.now())
      return await generator.next()
    },
    async return () {
      probe.returnCalls++
      return await generator.return(undefined)
    }
  }
  return iterator
}

/** The source function of a route: records its context and when its signal aborts. */
function recording (probe: Probe, generator: (context: SseSourceContext) => AsyncGenerator<SseEvent> | Generator<SseEvent>) {
  return (context: SseSourceContext) => {
    probe.context = context
    context.signal.addEventListener('abort', () => { probe.abortedAt = performance.now() })
    return observed(probe, generator(context))
  }
}

function pullsSince (probe: Probe, time: number): number {
  return probe.pullTimes.filter(pulledAt => pulledAt >= time).length
}

const PROMPT = { prompt: 'Tell me a story' }

for (const method of ['GET', 'POST'] as const) {
  const body = method === 'POST' ? PROMPT : undefined

  test(`${method}: a source blocked in an await that ignores the signal is aborted and returned at once when the client leaves`, async (t) => {
    const probe = newProbe()
    let settleAwait!: () => void
    const blocked = new Promise<void>(resolve => { settleAwait = resolve })
    let afterAwait = false
    const { app, url } = await listen((app) => {
      app.route({
        method,
        url: '/',
        handler: async (request, reply) => reply.sseStream(recording(probe, async function * () {
          try {
            yield { data: method === 'POST' ? (request.body as typeof PROMPT).prompt : 'first' }
            yield { data: 'second' }
            await blocked // deaf to the signal: only the test settles it
            afterAwait = true
            yield { data: 'after the await' }
            yield { data: 'never pulled' }
          } finally {
            probe.finallyAt = performance.now()
          }
        }))
      })
    })
    t.teardown(() => app.close())

    const client = await connect(url, { method, body })
    t.teardown(() => client.leave())
    await waitFor(() => client.events.length === 2 && probe.pullTimes.length === 3, 5000, 'two events and the source blocked in its third pull')
    t.same(client.events.map(event => event.data), [method === 'POST' ? PROMPT.prompt : 'first', 'second'])
    // A POST request's own 'close' fires once its body is read: that must not end the stream.
    await sleep(150)
    t.equal(probe.abortedAt, undefined, 'the signal has not aborted while the client is there')
    t.equal(probe.returnCalls, 0)
    t.equal(client.closed, false)

    const leftAt = performance.now()
    client.leave()
    await waitFor(() => probe.abortedAt !== undefined && probe.returnCalls > 0, 5000, 'the signal to abort and return() to be called')
    t.ok(probe.context?.signal.aborted, 'signal.aborted is true')
    t.equal((probe.context?.signal.reason as Error | undefined)?.name, 'AbortError', 'the abort reason is an AbortError')
    t.ok(probe.abortedAt! - leftAt < PROMPTLY_MS, `the signal aborted ${Math.round(probe.abortedAt! - leftAt)} ms after the client left`)
    t.equal(probe.returnCalls, 1, 'return() was called while the source was still blocked')
    t.equal(afterAwait, false, 'the await had not settled yet')
    t.equal(probe.finallyAt, undefined, 'finally cannot run before the await settles')

    const settledAt = performance.now()
    settleAwait()
    await waitFor(() => probe.finallyAt !== undefined, 5000, 'the source\'s finally')
    t.ok(probe.finallyAt! - settledAt < PROMPTLY_MS, `finally ran ${Math.round(probe.finallyAt! - settledAt)} ms after the await settled`)
    await sleep(100)
    t.equal(probe.returnCalls, 1, 'return() is called exactly once')
    t.ok(pullsSince(probe, leftAt) <= 1, `at most one more item pulled after the client left (${pullsSince(probe, leftAt)})`)
  })

  test(`${method}: a source that honours the signal runs its finally at once when the client leaves`, async (t) => {
    const probe = newProbe()
    let abortSeen: unknown
    const { app, url } = await listen((app) => {
      app.route({
        method,
        url: '/',
        handler: async (_request, reply) => reply.sseStream(recording(probe, async function * ({ signal }) {
          try {
            yield { data: 'first' }
            await sleep(10_000, null, { signal })
            yield { data: 'after ten seconds' }
          } catch (err) {
            abortSeen = err
            throw err
          } finally {
            probe.finallyAt = performance.now()
          }
        }))
      })
    })
    t.teardown(() => app.close())

    const client = await connect(url, { method, body })
    t.teardown(() => client.leave())
    await waitFor(() => client.events.length === 1 && probe.pullTimes.length === 2, 5000, 'the first event and the source blocked in its second pull')
    const leftAt = performance.now()
    client.leave()
    await waitFor(() => probe.finallyAt !== undefined, 5000, 'the source\'s finally')
    t.ok(probe.finallyAt! - leftAt < PROMPTLY_MS, `finally ran ${Math.round(probe.finallyAt! - leftAt)} ms after the client left`)
    t.equal((abortSeen as Error | undefined)?.name, 'AbortError', 'the source\'s await was aborted through its signal')
    await sleep(100)
    t.equal(probe.returnCalls, 1, 'return() is called exactly once')
    t.ok(pullsSince(probe, leftAt) <= 1, 'at most one more item pulled after the client left')
  })
}

test('the source function receives the signal and the Last-Event-ID', async (t) => {
  const contexts: Array<{ aborted: boolean, lastEventId: string | undefined, isSignal: boolean }> = []
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(({ signal, lastEventId }) => {
      contexts.push({ aborted: signal.aborted, lastEventId, isSignal: signal instanceof AbortSignal })
      return [{ data: 'x' }]
    }))
  })
  t.teardown(() => app.close())

  const resumed = await connect(url, { headers: { 'last-event-id': '41' } })
  t.teardown(() => resumed.leave())
  await waitFor(() => resumed.ended, 5000, 'the stream to end')
  const fresh = await connect(url)
  t.teardown(() => fresh.leave())
  await waitFor(() => fresh.ended, 5000, 'the stream to end')
  t.same(contexts, [
    { aborted: false, lastEventId: '41', isSignal: true },
    { aborted: false, lastEventId: undefined, isSignal: true }
  ])
})

test('return() is not called on a source that finished or threw, and the signal still aborts', async (t) => {
  const finished = newProbe()
  const failed = newProbe()
  const { app, url } = await listen((app) => {
    app.get('/finishes', async (_request, reply) => reply.sseStream(recording(finished, async function * () {
      try {
        yield { data: 'a' }
        yield { data: 'b' }
      } finally {
        finished.finallyAt = performance.now()
      }
    })))
    app.get('/throws', async (_request, reply) => reply.sseStream(recording(failed, async function * () {
      try {
        yield { data: 'a' }
        throw new Error('the source broke')
      } finally {
        failed.finallyAt = performance.now()
      }
    })))
  })
  t.teardown(() => app.close())

  for (const [path, probe] of [['/finishes', finished], ['/throws', failed]] as const) {
    const client = await connect(url + path)
    t.teardown(() => client.leave())
    await waitFor(() => client.ended, 5000, `${path} to end`)
    await waitFor(() => probe.finallyAt !== undefined, 5000, `${path}'s finally`)
    await sleep(100)
    t.equal(probe.returnCalls, 0, `${path}: return() is not called`)
    t.equal(probe.context?.signal.aborted, true, `${path}: the signal aborted when the stream ended`)
  }
})

test('a sync iterable source streams, and a sync generator is returned when the client leaves', async (t) => {
  let finiteFinally = false
  const endless = newProbe()
  const { app, url } = await listen((app) => {
    app.get('/finite', async (_request, reply) => reply.sseStream(function * () {
      try {
        for (let n = 0; n < 5; n++) yield { id: n, data: `item ${n}` }
      } finally {
        finiteFinally = true
      }
    }()))
    app.get('/endless', async (_request, reply) => reply.sseStream(recording(endless, function * () {
      try {
        for (let n = 0; ; n++) yield { id: n, data: 'x'.repeat(100) }
      } finally {
        endless.finallyAt = performance.now()
      }
    })))
  })
  t.teardown(() => app.close())

  const finite = await connect(url + '/finite')
  t.teardown(() => finite.leave())
  await waitFor(() => finite.ended, 5000, 'the finite stream to end')
  t.same(finite.events.map(event => [event.id, event.data]), [0, 1, 2, 3, 4].map(n => [String(n), `item ${n}`]))
  t.ok(finiteFinally, 'the sync generator ran to its end')

  const client = await connect(url + '/endless')
  t.teardown(() => client.leave())
  await waitFor(() => client.events.length >= 100, 5000, 'a hundred events')
  const leftAt = performance.now()
  client.leave()
  await waitFor(() => endless.finallyAt !== undefined, 5000, 'the sync generator\'s finally')
  t.ok(endless.finallyAt! - leftAt < PROMPTLY_MS, `finally ran ${Math.round(endless.finallyAt! - leftAt)} ms after the client left`)
  await sleep(100)
  t.equal(endless.returnCalls, 1, 'return() is called exactly once')
  t.ok(pullsSince(endless, endless.finallyAt!) === 0, 'nothing is pulled after return()')
})

/** Listener counts per event name. */
function listenerCounts (emitter: NodeJS.EventEmitter): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name)
  return counts
}

test('a stream leaves no listeners on its response or its keep-alive socket', async (t) => {
  const responses: Array<{ before: Record<string, number>, response: http.ServerResponse }> = []
  const sockets: Socket[] = []
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => {
      responses.push({ before: listenerCounts(reply.raw), response: reply.raw })
      return reply.sseStream(async function * () {
        yield { data: 'a' }
        await sleep(5)
        yield { data: 'b' }
      })
    })
  })
  t.teardown(() => app.close())
  app.server.on('connection', (socket: Socket) => sockets.push(socket))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())

  let afterFirst: Record<string, number> = {}
  for (let round = 0; round < 20; round++) {
    const client = await connect(url, { agent })
    await waitFor(() => client.ended, 5000, 'the stream to end')
    t.equal(client.events.length, 2)
    if (round === 0) afterFirst = listenerCounts(sockets[0]!)
  }
  t.equal(sockets.length, 1, 'every stream went over the same keep-alive socket')
  t.same(listenerCounts(sockets[0]!), afterFirst, 'the socket has as many listeners after 20 streams as after one')
  for (const { before, response } of responses) {
    for (const name of ['close', 'drain', 'error']) {
      t.ok(response.listenerCount(name) <= (before[name] ?? 0), `no '${name}' listener left on the response`)
    }
  }
})

test('no listener on the response and no heartbeat timer outlive a stream the client left', async (t) => {
  let response: http.ServerResponse | undefined
  let before: Record<string, number> = {}
  const probe = newProbe()
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => {
      response = reply.raw
      before = listenerCounts(reply.raw)
      return reply.sseStream(recording(probe, async function * ({ signal }) {
        try {
          yield { data: 'first' }
          // Blocked without a timer of its own, so the heartbeat's is the one timer the stream holds.
          await new Promise(resolve => signal.addEventListener('abort', resolve))
        } finally {
          probe.finallyAt = performance.now()
        }
      }), { heartbeatInterval: 100 })
    })
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  const timers = trackTimers()
  t.teardown(() => timers.stop())
  const client = await connect(url)
  t.teardown(() => client.leave())
  await waitFor(() => client.events.length === 1, 5000, 'the first event')
  t.ok(timers.live >= 1, 'while the stream is open, its heartbeat holds a timer')
  client.leave()
  await waitFor(() => probe.finallyAt !== undefined && client.closed, 5000, 'the stream to be torn down')
  await waitFor(() => timers.live === 0, 5000, 'every timer created since the stream opened to be gone')
  t.equal(timers.live, 0, 'no timer outlives the stream')
  for (const name of ['close', 'drain', 'error']) {
    t.ok(response!.listenerCount(name) <= (before[name] ?? 0), `no '${name}' listener left on the response`)
  }
})
