// Rule 13 under a slow-loris attack: 2,000 clients connect and never read while
// their sources flood. Each is dropped once its socket has accepted nothing for
// sendTimeout, its source is finalized, and the process's memory comes back
// near where it started. (Each stalled socket takes in a few MB before it stops
// accepting: the kernel's buffers, not the process's.)

import { test } from 'tap'
import net from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { setTimeout as sleep } from 'node:timers/promises'
import { listen } from './helpers/server.js'
import { waitFor } from './helpers/wait.js'

const CLIENTS = 2000
/** Under the listen backlog, so that no connection waits for a SYN retry. */
const BATCH = 100
const SEND_TIMEOUT = 1500
/** Large events: the kernel fills with fewer of them, and the test is about stalls, not framing. */
const PAYLOAD = 'x'.repeat(32 * 1024)

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function memory (): number {
  gc()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external + usage.arrayBuffers
}

function mb (bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1)
}

interface LogLine { level: number, msg: string, sendTimeout?: number }

test(`${CLIENTS} clients that never read are all dropped after sendTimeout, every source finalized, memory back near its start`, async (t) => {
  let started = 0
  let finalized = 0
  const droppedAfter: number[] = []
  const logged: LogLine[] = []
  const logger = { level: 'info', stream: { write: (line: string) => { logged.push(JSON.parse(line)) } } }
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => {
      const opened = performance.now()
      reply.raw.once('close', () => droppedAfter.push(performance.now() - opened))
      return reply.sseStream(async function * () {
        started++
        try {
          for (let n = 0; ; n++) yield { id: n, data: PAYLOAD }
        } finally {
          finalized++
        }
      })
    })
  }, { plugin: { sendTimeout: SEND_TIMEOUT, heartbeatInterval: 0 }, fastify: { logger } })
  t.teardown(() => app.close())
  const port = Number(new URL(url).port)

  const before = memory()
  const sockets: net.Socket[] = []
  t.teardown(() => { for (const socket of sockets) socket.destroy() })
  let mostOpen = 0
  const watching = setInterval(() => { mostOpen = Math.max(mostOpen, app.sseStats().open) }, 50)
  t.teardown(() => clearInterval(watching))
  for (let i = 0; i < CLIENTS; i++) {
    const socket = net.connect(port, '127.0.0.1')
    socket.pause() // never read a byte
    socket.on('error', () => {}) // the server resets it
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
    sockets.push(socket)
    if ((i + 1) % BATCH === 0) await waitFor(() => started === i + 1, 30_000, () => `${i + 1} streams to start (${started})`)
  }

  await waitFor(() => finalized === CLIENTS, 60_000, () => `every source to be finalized (${finalized} of ${CLIENTS})`)
  t.equal(finalized, CLIENTS, 'every source ran its finally')
  // A paused client does not see the reset until it reads: count on the server's side.
  const connections = async (): Promise<number> => await new Promise((resolve, reject) => app.server.getConnections((err, count) => err === null ? resolve(count) : reject(err)))
  // A destroyed response's close event comes a tick or more after its stream's teardown.
  await waitFor(() => droppedAfter.length === CLIENTS, 30_000, () => `every response to close (${droppedAfter.length} of ${CLIENTS})`)
  t.equal(droppedAfter.length, CLIENTS, 'every response was closed')
  t.equal(await connections(), 0, 'the server holds no connection')
  t.comment(`at most ${mostOpen} streams were open at once`)

  const stats = app.sseStats()
  t.equal(stats.open, 0, 'no stream is left open')
  t.equal(stats.ended.stalled, CLIENTS, 'every stream ended as stalled')
  const earliest = Math.min(...droppedAfter)
  t.ok(earliest >= SEND_TIMEOUT, `no stream was dropped before sendTimeout (the earliest after ${Math.round(earliest)} ms)`)
  t.equal(logged.filter(line => line.level === 30 && line.sendTimeout === SEND_TIMEOUT).length, CLIENTS, 'each drop is logged at info')

  for (const socket of sockets) socket.destroy()
  await sleep(200)
  const after = memory()
  const grown = after - before
  t.comment(`process memory (heap, external, array buffers, after gc): ${mb(before)} MB before, ${mb(after)} MB after`)
  t.ok(grown < 24 * 1024 * 1024, `the process's memory is back near its start (${mb(grown)} MB above it)`)
})
