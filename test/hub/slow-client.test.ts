// A client that stops reading costs a cursor, not a queue: while 20,000 events are
// published the process's memory stays bounded, and when it reads again it catches
// up from the history exactly, or gets one reset when the history no longer has
// its position.

import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { EventSourceMessage } from 'eventsource-parser'
import { memoryEngine } from '../../lib/hub/index.js'
import { waitFor } from '../helpers/wait.js'
import { isRun, numbered, sleep, stalledClient, startHubApp } from './helpers.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const MB = 1024 * 1024

function heapUsed (): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const TOTAL = 20_000

t.test('a client that stops reading while 20,000 events are published: memory stays bounded; reading again, it gets one reset wherever the history moved past it, and no silent gap', async (t) => {
  const { hub, url } = await startHubApp(t, { engine: memoryEngine({ history: 1000 }) })
  const client = await stalledClient(`${url}/topics/slow/events`)
  t.teardown(() => client.leave())
  await sleep(100)
  const text = 'x'.repeat(1000) // 20 MB of events in all: a queue per client would show
  const warmUp = 2000 // the history full and the stream stalled before the baseline
  for (let n = 1; n <= warmUp; n++) await hub.publish('slow', { event: 'message', data: { n, text } })
  await sleep(100)
  const before = heapUsed()
  const rssBefore = process.memoryUsage().rss
  let newest = ''
  for (let n = warmUp + 1; n <= TOTAL; n++) {
    newest = await hub.publish('slow', { event: 'message', data: { n, text } })
    if (n % 1000 === 0) await sleep(1) // let the sockets move, as between real requests
  }
  await sleep(200)
  const growth = heapUsed() - before
  const rssGrowth = process.memoryUsage().rss - rssBefore
  t.comment(`heap growth ${(growth / MB).toFixed(1)} MB, RSS growth ${(rssGrowth / MB).toFixed(1)} MB while ${TOTAL - warmUp} more events of 1 kB went to a stalled client`)
  t.ok(growth < 8 * MB, `heap grew by ${(growth / MB).toFixed(1)} MB, not by the 18 MB published: a cursor, not a queue`)

  client.read()
  // Caught up: the last event the client has is the newest (or a reset to it).
  await waitFor(() => client.events.at(-1)?.id === newest, 20_000, 'the client to catch up')
  const last = await hub.publish('slow', { event: 'message', data: { n: TOTAL + 1, text: 'live' } })
  await waitFor(() => client.events.at(-1)?.id === last, 10_000, 'the live event')
  const { problems, resets, delivered } = checkSequence(client.events)
  t.same(problems, [], 'in order, no duplicate, and every gap announced by one reset (history-lost) right where it is')
  t.ok(resets >= 1, `the history moved past the client: ${resets} reset(s) where it lost its position, ${delivered} events delivered`)
  t.equal(numbered(client.events.at(-1) as EventSourceMessage), TOTAL + 1, 'then live events')
})

/** What is wrong with a received sequence of `message` and `reset` events: a silent gap, a duplicate, a reset for nothing. */
function checkSequence (events: readonly EventSourceMessage[]): { problems: string[], resets: number, delivered: number } {
  const problems: string[] = []
  let expected = 1
  let afterReset = false
  let resets = 0
  let delivered = 0
  for (const event of events) {
    if (event.event === 'reset') {
      resets++
      if (afterReset) problems.push('two resets in a row')
      if (JSON.parse(event.data).reason !== 'history-lost') problems.push(`reset for ${event.data}`)
      afterReset = true
      continue
    }
    const n = numbered(event)
    delivered++
    if (afterReset ? n <= expected : n !== expected) problems.push(`${n} where ${afterReset ? `more than ${expected}` : expected} was due`)
    if (afterReset && n === expected) problems.push(`a reset before ${n}, with nothing lost`)
    afterReset = false
    expected = n + 1
  }
  return { problems, resets, delivered }
}

t.test('a client that stops reading, with the history long enough: reading again, it catches up exactly', async (t) => {
  const { hub, url } = await startHubApp(t, { engine: memoryEngine({ history: 25_000 }) })
  const client = await stalledClient(`${url}/topics/slow/events`)
  t.teardown(() => client.leave())
  await sleep(100)
  const text = 'y'.repeat(200)
  const before = heapUsed()
  for (let n = 1; n <= TOTAL; n++) await hub.publish('slow', { event: 'message', data: { n, text } })
  await sleep(200)
  const growth = heapUsed() - before
  t.comment(`heap growth ${(growth / MB).toFixed(1)} MB after ${TOTAL} events of 200 bytes, all kept in the history`)
  t.ok(growth < 8 * MB + TOTAL * 400, `heap grew by ${(growth / MB).toFixed(1)} MB: the history itself plus a bounded rest`)

  client.read()
  await waitFor(() => client.events.length >= TOTAL, 30_000, () => `all ${TOTAL} events (got ${client.events.length})`)
  await hub.publish('slow', { event: 'message', data: { n: TOTAL + 1, text: 'live' } })
  await waitFor(() => client.events.length >= TOTAL + 1, 10_000, 'the live event')
  await sleep(100)
  t.ok(isRun(client.events.map(event => numbered(event)), 1, TOTAL + 1), `1..${TOTAL + 1}, each once, in order: caught up from the history, then live`)
  t.notOk(client.events.some(event => event.event === 'reset'), 'no reset')
})
