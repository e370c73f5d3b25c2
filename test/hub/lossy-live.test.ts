// A live channel that loses, repeats and interrupts notifications (as Redis PUB/SUB
// may): the hub proves continuity on every entry and fills each break from the
// history, so every subscriber still gets every event once, in order.

import t from 'tap'
import { memoryEngine, type EngineListener, type HubEngine } from '../../lib/hub/index.js'
import { connect, type SseClient } from '../helpers/sse-client.js'
import { waitFor } from '../helpers/wait.js'
import { isRun, numbered, sleep, startHubApp } from './helpers.js'

/** The memory engine behind a live channel that drops a share of its notifications and repeats some. */
function lossyEngine (dropShare: number): { engine: HubEngine, dropped: { count: number, repeated: number }, resyncAll (): void, dropFromNowOn (share: number): void } {
  const inner = memoryEngine()
  const listeners = new Set<EngineListener>()
  const dropped = { count: 0, repeated: 0 }
  // A fixed pseudo-random sequence, so that a failure can be replayed.
  let seed = 12345
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  const engine: HubEngine = {
    append: (topic, body) => inner.append(topic, body),
    read: (topic, afterId, limit) => inner.read(topic, afterId, limit),
    newest: (topic) => inner.newest(topic),
    close: () => inner.close(),
    listen (topic, listener) {
      listeners.add(listener)
      const stop = inner.listen(topic, {
        entry (entry) {
          const roll = random()
          if (roll < dropShare) {
            dropped.count++
            return
          }
          listener.entry(entry)
          if (roll > 0.95) {
            dropped.repeated++
            listener.entry(entry) // delivered twice
          }
        },
        resync: () => listener.resync()
      })
      return () => {
        listeners.delete(listener)
        stop()
      }
    }
  }
  return {
    engine,
    dropped,
    resyncAll: () => { for (const listener of listeners) listener.resync() },
    dropFromNowOn: (share) => { dropShare = share }
  }
}

t.test('a third of the live notifications lost and some repeated: no gap, no duplicate, for every subscriber', async (t) => {
  const lossy = lossyEngine(1 / 3)
  const { hub, url } = await startHubApp(t, { engine: lossy.engine })
  const clients: SseClient[] = []
  for (let i = 0; i < 20; i++) clients.push(await connect(`${url}/topics/lossy/events`))
  t.teardown(() => { for (const client of clients) client.leave() })
  await sleep(200)

  const total = 2000
  for (let n = 1; n <= total; n++) {
    await hub.publish('lossy', { event: 'message', data: { n, text: 'x' } })
    if (n % 100 === 0) await sleep(1)
    if (n % 500 === 0) lossy.resyncAll() // the channel says it was interrupted
  }
  lossy.resyncAll() // the last notifications may be the lost ones: the engine's resync is what finds them
  const received = (client: SseClient): number[] => client.events.map(event => numbered(event))
  await waitFor(() => clients.every(client => client.events.length >= total), 20_000, () => `every client to get ${total} (least: ${Math.min(...clients.map(c => c.events.length))})`)
  await sleep(100)
  t.ok(lossy.dropped.count > 500, `notifications lost: ${lossy.dropped.count}, repeated: ${lossy.dropped.repeated}`)
  t.ok(clients.every(client => isRun(received(client), 1, total)), `every one of ${clients.length} clients got 1..${total} once, in order`)
  t.ok(clients.every(client => client.events.every(event => event.event === undefined)), 'no reset: the history covered every break')
})

t.test('a client that joins while the topic fills a break gets no gap and no duplicate at its seam', async (t) => {
  const lossy = lossyEngine(0.5)
  const { hub, url } = await startHubApp(t, { engine: lossy.engine })
  const first = await connect(`${url}/topics/seam/events`)
  t.teardown(() => first.leave())
  const late: SseClient[] = []
  t.teardown(() => { for (const client of late) client.leave() })
  let n = 0
  const ids: string[] = []
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 50; i++) ids.push(await hub.publish('seam', { event: 'message', data: { n: ++n, text: 'x' } }))
    // Resuming from an id the window may or may not have yet.
    late.push(await connect(`${url}/topics/seam/events`, { headers: { 'last-event-id': ids[ids.length - 10] as string } }))
  }
  lossy.resyncAll()
  await waitFor(() => first.events.length >= n && late.every((client, round) => client.events.length >= n - (round + 1) * 50 + 9), 20_000, 'every client to catch up')
  await sleep(100)
  t.ok(isRun(first.events.map(event => numbered(event)), 1, n), 'the first client: every event once')
  late.forEach((client, round) => {
    const from = (round + 1) * 50 - 8
    t.ok(isRun(client.events.map(event => numbered(event)), from, n), `the client that resumed after event ${from - 1}: ${from}..${n} once, in order`)
  })
})

t.test('the last live notification lost and the topic quiet afterwards: the event still arrives, without any resync', async (t) => {
  const lossy = lossyEngine(0)
  const { hub, url } = await startHubApp(t, { engine: lossy.engine })
  const client = await connect(`${url}/topics/quiet/events`)
  t.teardown(() => client.leave())
  await sleep(200)
  await hub.publish('quiet', { event: 'message', data: { n: 1, text: 'x' } })
  await waitFor(() => client.events.length === 1, 10_000, 'the first event')
  // From now on the live channel loses everything, and nothing says so.
  lossy.dropFromNowOn(1)
  await hub.publish('quiet', { event: 'message', data: { n: 2, text: 'x' } })
  await waitFor(() => client.events.length === 2, 15_000, 'the lost event to arrive from the history')
  t.ok(isRun(client.events.map(event => numbered(event)), 1, 2), 'events 1 and 2, once each, in order')
})
