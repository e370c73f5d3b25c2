// An open stream whose subscriber fell behind the window while the engine does not
// answer: the stream stays open and catches up from its last id once the engine is
// back (hub.md, Delivery), rather than ending with the failure event. On a lossy
// link to Redis a history read times out now and then; a client that does not
// reconnect on `stream-error` (the typed client) stopped there for good.

import t from 'tap'
import http, { type IncomingMessage } from 'node:http'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { FST_SSE_HUB_UNAVAILABLE } from '../../lib/errors.js'
import { memoryEngine, type HubEngine } from '../../lib/hub/index.js'
import { waitFor } from '../helpers/wait.js'
import { isRun, numbered, sleep, startHubApp } from './helpers.js'

/** The memory engine, whose history reads fail as an unreachable Redis's do while `failing` is set. */
function flakyEngine (): { engine: HubEngine, control: { failing: boolean, failedReads: number } } {
  const inner = memoryEngine({ history: 10_000 })
  const control = { failing: false, failedReads: 0 }
  const engine: HubEngine = {
    append: (topic, body) => inner.append(topic, body),
    read: async (topic, afterId, limit) => {
      if (control.failing) {
        control.failedReads++
        throw new FST_SSE_HUB_UNAVAILABLE('read: no answer from Redis within 2000 ms')
      }
      return await inner.read(topic, afterId, limit)
    },
    newest: (topic) => inner.newest(topic),
    listen: (topic, listener) => inner.listen(topic, listener),
    close: () => inner.close()
  }
  return { engine, control }
}

const TOTAL = 3000

t.test('a subscriber behind the window while history reads fail: the stream stays open and catches up once the engine answers', async (t) => {
  const { engine, control } = flakyEngine()
  const { hub, url } = await startHubApp(t, { engine })
  const request = http.get(`${url}/topics/flaky/events`, { agent: false })
  const response = await new Promise<IncomingMessage>((resolve, reject) => request.once('response', resolve).once('error', reject))
  request.on('error', () => {})
  t.teardown(() => request.destroy())
  response.pause() // reads nothing: the cursor falls behind the window
  let ended = false
  response.once('end', () => { ended = true }).once('close', () => { ended = true })
  await sleep(100)

  const text = 'x'.repeat(500) // 1.5 MB in all: far more than the socket buffers take
  for (let n = 1; n <= TOTAL; n++) await hub.publish('flaky', { event: 'message', data: { n, text } })

  // The engine stops answering; the client reads again, and its cursor needs the history.
  control.failing = true
  const events: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (event) => events.push(event) })
  const decoder = new TextDecoder()
  response.on('data', (chunk: Buffer) => parser.feed(decoder.decode(chunk, { stream: true })))
  response.resume()
  await waitFor(() => control.failedReads >= 2 || ended, 10_000, 'two failed history reads')
  t.notOk(ended, 'the stream is still open after a failed history read')
  t.ok(control.failedReads >= 2, `the history read was tried again (${control.failedReads} failed reads)`)
  const received = events.length
  t.ok(received < TOTAL, `the client is behind while the engine does not answer (${received} of ${TOTAL})`)

  control.failing = false
  const messages = (): number[] => events.filter(event => event.event === undefined || event.event === 'message').map(numbered)
  await waitFor(() => messages().length >= TOTAL || ended, 20_000, () => `every event (got ${messages().length})`)
  t.notOk(ended, 'the stream is still open')
  t.same(events.filter(event => event.event !== undefined && event.event !== 'message').map(event => event.event), [], 'no stream-error, no reset')
  t.ok(isRun(messages(), 1, TOTAL), `every event once, in order (${messages().length})`)
})
