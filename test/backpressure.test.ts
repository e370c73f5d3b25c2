// Rule 5: while the socket's buffer is full, nothing more is pulled from the
// source, so a slow or stalled client costs bounded memory; when it reads again
// nothing is lost; and a client that vanishes while the server waits for 'drain'
// still tears the source down (the "drain that never comes").

import { test } from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { createParser } from 'eventsource-parser'
import { listen } from './helpers/server.js'
import { plateau, waitFor } from './helpers/wait.js'

/** About 1 KB of data per event. */
const PAYLOAD = 'x'.repeat(1000)
/** Loopback kernel buffers hold a few MB; this many 1 KB events (25 MB) is far beyond them. */
const MAX_PULLED_WHILE_STALLED = 25_000

function heapAndBuffers (): number {
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external + usage.arrayBuffers
}

test('a stalled reader stops the pulls at a bounded count, and on resuming every event arrives in order', async (t) => {
  const total = 60_000
  let pulled = 0
  let finished = false
  let response: ServerResponse | undefined
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => {
      response = reply.raw
      return reply.sseStream(async function * () {
        for (let n = 0; n < total; n++) {
          pulled++
          yield { id: n, data: PAYLOAD }
        }
        finished = true
      })
    })
  })
  t.teardown(() => app.close())

  const memoryBefore = heapAndBuffers()
  const request = http.get(url, { agent: false })
  t.teardown(() => request.destroy())
  // The response is not read (paused): node:http stops reading the socket once its small buffer is full.
  const stalled = await new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve)
    request.once('error', reject)
  })
  t.equal(stalled.statusCode, 200)

  const pulledWhileStalled = await plateau(() => pulled, 1000, 15_000)
  t.ok(pulledWhileStalled > 0, 'the source was pulled')
  t.ok(pulledWhileStalled < MAX_PULLED_WHILE_STALLED, `pulls stopped at ${pulledWhileStalled} items, a bounded count`)
  t.notOk(finished, 'the source did not run to its end into memory')
  const buffered = response!.writableLength
  t.ok(buffered < 256 * 1024, `the response buffers ${buffered} bytes in the server process`)
  const grown = heapAndBuffers() - memoryBefore
  t.ok(grown < 48 * 1024 * 1024, `the process memory grew by ${Math.round(grown / 1024 / 1024)} MB only`)

  // Reading again: every event arrives, in order, intact.
  let nextId = 0
  let received = 0
  let markerSeen = false
  const problems: string[] = []
  const parser = createParser({
    onEvent: (event) => {
      if (event.event === 'end' && event.data === '[DONE]' && received === total) { // the source finished
        markerSeen = true
        return
      }
      if (event.id !== String(nextId) && problems.length < 5) problems.push(`event ${received} has id ${String(event.id)}, expected ${nextId}`)
      if (event.data !== PAYLOAD && problems.length < 5) problems.push(`event ${received} has damaged data`)
      nextId = Number(event.id) + 1
      received++
    }
  })
  let ended = false
  stalled.setEncoding('utf8')
  stalled.on('data', (text: string) => parser.feed(text))
  stalled.on('end', () => { ended = true })
  await waitFor(() => ended, 30_000, 'the whole stream')
  t.same(problems, [], 'ids are consecutive and every event is intact')
  t.equal(received, total, 'no event was lost')
  t.ok(finished, 'the source ran to its end once the client read again')
  t.ok(markerSeen, 'and the stream ended with the end marker')
})

test('a raw client that connects and never reads holds the source still', async (t) => {
  let pulled = 0
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * () {
      for (let n = 0; ; n++) {
        pulled++
        yield { id: n, data: PAYLOAD }
      }
    }))
  })
  t.teardown(() => app.close())

  const { port } = new URL(url)
  const socket = net.connect(Number(port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.pause() // never read
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)

  const pulledWhileStalled = await plateau(() => pulled, 1000, 15_000)
  t.ok(pulledWhileStalled > 0, 'the source was pulled')
  t.ok(pulledWhileStalled < MAX_PULLED_WHILE_STALLED, `pulls stopped at ${pulledWhileStalled} items, a bounded count`)
  await sleep(500)
  t.equal(pulled, pulledWhileStalled, 'nothing more is pulled while the client does not read')
})

test('a client that vanishes while the server waits for drain tears the source down promptly', async (t) => {
  let pulled = 0
  let finallyAt: number | undefined
  let signal: AbortSignal | undefined
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * (context) {
      signal = context.signal
      try {
        for (let n = 0; ; n++) {
          pulled++
          yield { id: n, data: PAYLOAD }
        }
      } finally {
        finallyAt = performance.now()
      }
    }))
  })
  t.teardown(() => app.close())

  const { port } = new URL(url)
  const socket = net.connect(Number(port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.pause()
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  await plateau(() => pulled, 1000, 15_000)
  t.equal(finallyAt, undefined, 'the source is waiting, not finished')

  const leftAt = performance.now()
  socket.destroy()
  await waitFor(() => finallyAt !== undefined, 5000, 'the source\'s finally after the client vanished')
  t.ok(finallyAt! - leftAt < 1000, `finally ran ${Math.round(finallyAt! - leftAt)} ms after the client vanished`)
  t.equal(signal?.aborted, true, 'the signal aborted')
})
