import { test } from 'tap'
import { listen, readEvents } from './helpers/server.js'

test('a finite stream reaches a real client', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream([{ data: 'a' }, { event: 'x', data: { n: 1 } }]))
  })
  t.teardown(() => app.close())
  const parsed = await readEvents(await fetch(url))
  t.same(parsed.events.map(e => [e.event, e.data]), [[undefined, 'a'], ['x', '{"n":1}']])
})
