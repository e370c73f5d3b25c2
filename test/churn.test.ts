// Many clients that connect and leave: every stream that started is finalized,
// nothing accumulates (listeners, warnings), and the server stays healthy.

import { test } from 'tap'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { listen } from './helpers/server.js'
import { waitFor } from './helpers/wait.js'

const CYCLES = 2000
const BATCH = 50

/** One client: connects, then leaves at a point that depends on `n`, from before the headers to after the first event. */
async function connectAndLeave (url: string, n: number): Promise<void> {
  const controller = new AbortController()
  await new Promise<void>((resolve, reject) => {
    const request = http.get(url, { agent: false, signal: controller.signal }, (response) => {
      if (n % 3 === 1) {
        controller.abort()
        return
      }
      response.once('data', () => controller.abort()) // the first event
    })
    request.on('close', resolve)
    request.on('error', (err) => {
      if (err.name !== 'AbortError') reject(err)
    })
    if (n % 3 === 0) setImmediate(() => controller.abort())
  })
}

test(`${CYCLES} connect/leave cycles leave no stream open and raise no warning`, async (t) => {
  const warnings: Error[] = []
  const onWarning = (warning: Error): void => { warnings.push(warning) }
  const rejections: unknown[] = []
  const onRejection = (reason: unknown): void => { rejections.push(reason) }
  process.on('warning', onWarning)
  process.on('unhandledRejection', onRejection)
  t.teardown(() => {
    process.off('warning', onWarning)
    process.off('unhandledRejection', onRejection)
  })

  const counts = { called: 0, started: 0, finalized: 0 }
  const signals: AbortSignal[] = []
  /**
   * A source function that records its signal and counts its source's start and
   * finally around `body` (what the source does after its first event), so the
   * two routes differ only in how they treat the signal.
   */
  const counted = (body: (signal: AbortSignal) => AsyncGenerator<{ data: string }>) => ({ signal }: { signal: AbortSignal }) => {
    counts.called++
    signals.push(signal)
    return (async function * () {
      counts.started++
      try {
        yield { data: 'open' }
        yield * body(signal)
      } finally {
        counts.finalized++
      }
    })()
  }
  const { app, url } = await listen((app) => {
    app.get('/listening', async (_request, reply) => reply.sseStream(counted(async function * (signal) {
      await sleep(60_000, null, { signal })
    })))
    app.get('/deaf', async (_request, reply) => reply.sseStream(counted(async function * () {
      while (true) {
        await sleep(100) // ignores the signal: ends at its next turn
        yield { data: 'tick' }
      }
    })))
    app.get('/health', async () => ({ ok: true }))
  }, { plugin: { heartbeatInterval: 50 } })
  t.teardown(() => app.close())

  for (let first = 0; first < CYCLES; first += BATCH) {
    await Promise.all(Array.from({ length: BATCH }, (_, i) => {
      const n = first + i
      return connectAndLeave(`${url}/${n % 2 === 0 ? 'listening' : 'deaf'}`, n)
    }))
  }

  await waitFor(() => counts.finalized === counts.started, 10_000,
    () => `every started source to be finalized (${counts.started - counts.finalized} still open)`)
  t.ok(counts.started > CYCLES / 2, `${counts.started} streams started`)
  t.equal(counts.started - counts.finalized, 0, 'no stream is left open')
  await waitFor(() => signals.every(signal => signal.aborted), 5000, () => 'every signal to abort')
  t.equal(signals.length, counts.called)
  t.pass('every source function\'s signal aborted')

  const health = await fetch(`${url}/health`)
  t.same(await health.json(), { ok: true }, 'the server still serves')
  t.same(warnings.map(warning => `${warning.name}: ${warning.message}`), [], 'no process warning, MaxListenersExceededWarning included')
  t.same(rejections, [], 'no unhandled rejection')
})
