// Rule 11: `await app.close()` ends every open stream (rule 6 for each of them)
// and resolves promptly, also with hundreds of streams open and with clients
// that stopped reading; afterwards nothing of the plugin is left running.
// Fastify's default forceCloseConnections throughout.

import { test } from 'tap'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { listen } from './helpers/server.js'
import { connect } from './helpers/sse-client.js'
import { plateau, trackTimers, waitFor } from './helpers/wait.js'

const STREAMS = 300
/** app.close() must resolve well within this, on a busy machine. */
const CLOSE_BUDGET_MS = 3000

/** Closes the app and returns how long that took; fails, instead of hanging, if it takes far too long. */
async function timedClose (app: FastifyInstance): Promise<number> {
  const closingAt = performance.now()
  let timer: NodeJS.Timeout | undefined
  const tooLong = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('app.close() did not resolve within 10 s')), 10_000)
  })
  try {
    await Promise.race([app.close(), tooLong])
  } finally {
    clearTimeout(timer)
  }
  return performance.now() - closingAt
}

/** Open sockets and servers, by kind. */
function handles (): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind.startsWith('TCP')) counts[kind] = (counts[kind] ?? 0) + 1
  }
  return counts
}

test(`app.close() with ${STREAMS} open streams resolves promptly and ends every one of them`, async (t) => {
  const timers = trackTimers()
  t.teardown(() => timers.stop())
  const handlesBefore = handles()

  let releaseDeaf!: () => void
  const deafBlocked = new Promise<void>(resolve => { releaseDeaf = resolve })
  const started = { deaf: 0, listening: 0 }
  const finalized = { deaf: 0, listening: 0 }
  const signals: AbortSignal[] = []
  const { app, url } = await listen((app) => {
    app.get('/deaf', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      signals.push(signal)
      started.deaf++
      try {
        yield { data: 'open' }
        await deafBlocked // ignores the signal
        yield { data: 'never written' }
      } finally {
        finalized.deaf++
      }
    }))
    app.get('/listening', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      signals.push(signal)
      started.listening++
      try {
        yield { data: 'open' }
        await sleep(60_000, null, { signal })
      } finally {
        finalized.listening++
      }
    }))
  }, { plugin: { heartbeatInterval: 1000 } })
  t.teardown(() => app.close())
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
  t.teardown(() => agent.destroy()) // before the app closes: a failed test leaves no client holding it open

  const clients = await Promise.all(Array.from({ length: STREAMS }, (_, n) =>
    connect(`${url}/${n % 2 === 0 ? 'deaf' : 'listening'}`, { agent })))
  await waitFor(() => clients.every(client => client.events.length === 1), 10_000,
    () => `every client's first event (${clients.filter(client => client.events.length === 1).length} of ${STREAMS})`)
  t.same(started, { deaf: STREAMS / 2, listening: STREAMS / 2 })

  const closeTook = await timedClose(app)
  t.ok(closeTook < CLOSE_BUDGET_MS, `app.close() resolved in ${Math.round(closeTook)} ms`)

  await waitFor(() => clients.every(client => client.ended), 5000,
    () => `every response to end (${clients.filter(client => client.ended).length} of ${STREAMS})`)
  t.pass('every client saw its response end')
  t.ok(signals.every(signal => signal.aborted), 'every signal aborted')
  await waitFor(() => finalized.listening === STREAMS / 2, 5000, () => `the finally of every source that honours its signal (${finalized.listening})`)
  t.pass('every source that honours its signal ran its finally')
  t.equal(finalized.deaf, 0, 'sources deaf to the signal are still in their await')
  releaseDeaf()
  await waitFor(() => finalized.deaf === STREAMS / 2, 5000, () => `the finally of every deaf source (${finalized.deaf})`)
  t.pass('every deaf source ran its finally once its await settled')

  agent.destroy()
  await waitFor(() => JSON.stringify(handles()) === JSON.stringify(handlesBefore), 5000, () => `sockets and servers back to ${JSON.stringify(handlesBefore)} (now ${JSON.stringify(handles())})`)
  t.pass('no socket or server left open')
  await waitFor(() => timers.live === 0, 5000, () => `every timer created since the start to be gone (${timers.live} left)`)
  t.pass('no timer left, heartbeat included')
})

test('app.close() resolves promptly when some clients have stopped reading', async (t) => {
  const payload = 'z'.repeat(1000)
  let pulled = 0
  let started = 0
  let finalized = 0
  const { app, url } = await listen((app) => {
    app.get('/flood', async (_request, reply) => reply.sseStream(async function * () {
      started++
      try {
        for (let n = 0; ; n++) {
          pulled++
          yield { id: n, data: payload }
        }
      } finally {
        finalized++
      }
    }))
    app.get('/idle', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      started++
      try {
        yield { data: 'open' }
        await sleep(60_000, null, { signal })
      } finally {
        finalized++
      }
    }))
  }, { plugin: { heartbeatInterval: 200 } })
  t.teardown(() => app.close())
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
  t.teardown(() => agent.destroy())

  const stalled = await Promise.all(Array.from({ length: 5 }, () => connect(url + '/flood', { agent, read: false })))
  const reading = await Promise.all(Array.from({ length: 20 }, () => connect(url + '/idle', { agent })))
  await waitFor(() => reading.every(client => client.events.length === 1), 10_000, () => 'every reading client\'s first event')
  // Every flood has filled its client's buffers once the pulls stop.
  await plateau(() => pulled, 1000, 20_000)
  t.equal(finalized, 0)

  const closeTook = await timedClose(app)
  t.ok(closeTook < CLOSE_BUDGET_MS, `app.close() resolved in ${Math.round(closeTook)} ms`)

  await waitFor(() => finalized === started, 5000, () => `every source's finally (${finalized} of ${started})`)
  t.pass('every source ran its finally')
  await waitFor(() => reading.every(client => client.ended), 5000, () => 'every reading client\'s response to end')
  t.pass('every reading client saw its response end')
  // A client that does not read cannot notice; once it reads again, it finds its response over.
  for (const client of stalled) client.response.resume()
  await waitFor(() => stalled.every(client => client.closed), 10_000, () => 'every stalled client\'s response to be over')
  t.pass('every stalled client finds its response over once it reads again')
})
