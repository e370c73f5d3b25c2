// typedEventSource over a real EventSource (the eventsource package, which follows
// the browser's) against the plugin: typed, checked listeners per event name,
// reset included, failures to onError, and the server's failure event closing it.

import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import { EventSource } from 'eventsource'
import { typedEventSource, SseStreamError, SseValidationError } from '../../lib/client/index.js'
import { waitFor } from '../helpers/wait.js'
import { Reset, startClientTestServer, tickEvents } from './helpers/app.js'

t.test('each listener gets its event\'s decoded, checked data; reset too; unsubscribing stops it', async (t) => {
  const server = await startClientTestServer(t)
  const source = new EventSource(`${server.url}/reset`)
  t.teardown(() => source.close())
  const typed = typedEventSource(source, { ...tickEvents, reset: Reset }, { validate: Value.Check, onError: (error) => t.fail(String(error)) })
  t.equal(typed.source, source)
  const seen: string[] = []
  const stop = typed.on('tick', (tick, message) => seen.push(`tick ${tick.n + 0} ${message.lastEventId}`))
  typed.on('reset', ({ reason }) => {
    seen.push(`reset ${reason}`)
    stop() // the tick after the reset is dispatched next: this listener must not see it
  })
  await waitFor(() => seen.length >= 2, 5000, 'a tick and the reset')
  await new Promise(resolve => setTimeout(resolve, 200))
  source.close()
  t.same(seen, ['tick 1 1', 'reset history-lost'])
  t.throws(() => typed.on('tock' as any, () => {}), { name: 'TypeError', message: 'event "tock" is not in events' })
})

t.test('an event that fails its schema goes to onError, not to the listener', async (t) => {
  const server = await startClientTestServer(t)
  const source = new EventSource(`${server.url}/wrong`)
  t.teardown(() => source.close())
  const errors: Error[] = []
  const ticks: number[] = []
  typedEventSource(source, tickEvents, { validate: Value.Check, onError: (error) => errors.push(error) }).on('tick', (tick) => ticks.push(tick.n))
  await waitFor(() => errors.length >= 1, 5000, 'the invalid tick')
  source.close()
  t.same(ticks, [1])
  t.type(errors[0], SseValidationError)
  t.match(errors[0], { event: 'tick', data: '{"n":"two"}' })
})

t.test('the server\'s stream-error closes the EventSource (no reconnect) and goes to onError', async (t) => {
  const server = await startClientTestServer(t)
  const source = new EventSource(`${server.url}/fails?expose=1`)
  t.teardown(() => source.close())
  const errors: Error[] = []
  typedEventSource(source, tickEvents, { validate: false, onError: (error) => errors.push(error) })
  await waitFor(() => errors.length === 1, 5000, 'the failure event')
  t.type(errors[0], SseStreamError)
  t.equal(errors[0]!.message, 'the model is overloaded')
  t.equal(source.readyState, EventSource.CLOSED)
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(server.requestsTo('/fails').length, 1, 'it did not come back')
})
