// Behind a real nginx with the recommended config (example/nginx.conf), which keeps
// nginx's default proxy_buffering on: the plugin's `X-Accel-Buffering: no` lets each
// event through at once, and its heartbeat keeps an idle stream under proxy_read_timeout.

import t from 'tap'
import { Type } from '@sinclair/typebox'
import { performance } from 'node:perf_hooks'
import { replyFor } from '../example/model.js'
import { pause } from '../example/pause.js'
import { startDemo } from './helpers/demo.js'
import { EventStreamReader, takeEvents } from './helpers/events.js'
import { useFreshConnections } from './helpers/fetch.js'
import { startNginx } from './helpers/nginx.js'
import { requireProgram } from './helpers/programs.js'
import { listen, readEvents } from './helpers/server.js'

const nginxPath = requireProgram(t, 'nginx', 'apt-get install -y nginx')
if (nginxPath !== undefined) {
  for (const [variant, httpDirectives] of [['nginx\'s defaults', []], ['proxy_http_version 1.1', ['proxy_http_version 1.1;']]] as const) {
    t.test(`with buffering on (${variant}), the first event reaches the client before the generator yields the second`, async (t) => {
      let openGate!: () => void
      const gate = new Promise<void>(resolve => { openGate = resolve })
      t.teardown(() => openGate())
      let yieldedSecond = false
      const { app, url } = await listen((app) => {
        app.get('/gated', { schema: { sse: { first: Type.String(), second: Type.String() } } }, async (_request, reply) =>
          reply.sseStream(async function * () {
            yield { event: 'first', data: 'one' }
            await gate // until the client has the first event
            yieldedSecond = true
            yield { event: 'second', data: 'two' }
          }))
      })
      t.teardown(() => app.close())
      useFreshConnections(t)
      const nginx = await startNginx(t, nginxPath, { upstreamPort: Number(new URL(url).port), httpDirectives: [...httpDirectives] })

      const response = await fetch(`${nginx.url}/gated`)
      t.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8')
      const reader = new EventStreamReader(response)
      await reader.readUntil((events) => events.length >= 1, 5000)
      t.same(reader.events.map(e => e.event), ['first'])
      t.equal(yieldedSecond, false, 'the second event did not exist yet')
      openGate()
      await reader.readToEnd(5000)
      t.same(reader.events.map(e => [e.event, e.data]), [['first', 'one'], ['second', 'two'], ['end', '[DONE]']], 'the events, then the end marker')
    })
  }

  t.test('control: with nginx\'s defaults, a stream without X-Accel-Buffering is held back until it ends', async (t) => {
    let endedAt = Infinity
    const { app, url } = await listen((app) => {
      app.get('/unflagged', (_request, reply) => {
        reply.hijack()
        reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        reply.raw.write('data: 1\n\n')
        setTimeout(() => {
          endedAt = performance.now()
          reply.raw.end('data: 2\n\n')
        }, 600)
      })
    })
    t.teardown(() => app.close())
    useFreshConnections(t)
    const nginx = await startNginx(t, nginxPath, { upstreamPort: Number(new URL(url).port) })

    const response = await fetch(`${nginx.url}/unflagged`)
    const reader = response.body!.getReader()
    const first = await reader.read()
    const firstChunkAt = performance.now()
    t.ok(firstChunkAt >= endedAt, `the first event arrived only after the response ended (${Math.round(firstChunkAt - endedAt)} ms after)`)
    let body = new TextDecoder().decode(first.value)
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) body += new TextDecoder().decode(chunk.value)
    t.equal(body, 'data: 1\n\ndata: 2\n\n', 'then all of it at once')
  })

  t.test('a heartbeat keeps an idle stream open past proxy_read_timeout; without one nginx cuts it', async (t) => {
    const { app, url } = await listen((app) => {
      app.get<{ Querystring: { heartbeat?: string } }>('/idle', async (request, reply) =>
        reply.sseStream(async function * ({ signal }) {
          yield { event: 'first', data: 'before the silence' }
          if (!await pause(3000, signal)) return // 3 times the proxy's read timeout
          yield { event: 'last', data: 'after the silence' }
        }, request.query.heartbeat === 'off' ? { heartbeatInterval: 0 } : {}))
    }, { plugin: { heartbeatInterval: 300 } })
    t.teardown(() => app.close())
    useFreshConnections(t)
    const nginx = await startNginx(t, nginxPath, { upstreamPort: Number(new URL(url).port), httpDirectives: ['proxy_read_timeout 1s;'] })

    const started = performance.now()
    const [kept, cut] = await Promise.all(['on', 'off'].map(async (heartbeat) => {
      const reader = new EventStreamReader(await fetch(`${nginx.url}/idle?heartbeat=${heartbeat}`))
      await reader.readToEnd(8000)
      return { reader, endedAfter: performance.now() - started }
    }))

    t.same(kept!.reader.events.map(e => e.event), ['first', 'last', 'end'], 'with a 300 ms heartbeat: both events, then the end marker')
    t.equal(kept!.reader.error, undefined, 'and a clean end')
    t.ok(kept!.reader.comments.length >= 3, `heartbeat comments came through nginx (${kept!.reader.comments.length})`)

    t.same(cut!.reader.events.map(e => e.event), ['first'], 'without a heartbeat: only the first event')
    t.ok(cut!.endedAfter < 2800, `nginx cut the stream before the silence ended (after ${Math.round(cut!.endedAfter)} ms)`)
    t.match(nginx.errorLog(), /upstream timed out/, 'because the upstream timed out')
  })

  t.test('the demo through nginx: POST /chat streams tokens and [DONE]; Last-Event-ID reaches the app', async (t) => {
    const { url } = await startDemo(t)
    const nginx = await startNginx(t, nginxPath, { upstreamPort: Number(new URL(url).port) })

    const prompt = 'Does this work behind a proxy?'
    const chat = await readEvents(await fetch(`${nginx.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt })
    }))
    t.equal(chat.events.at(-1)?.data, '[DONE]')
    t.equal(chat.events.slice(0, -1).map(e => JSON.parse(e.data).delta).join(''), replyFor(prompt))

    const resumed = await takeEvents(await fetch(`${nginx.url}/counter`, { headers: { 'last-event-id': '41' } }), (events) => events.length >= 2)
    t.same(resumed.map(e => JSON.parse(e.data)), [{ n: 42, resumedAfter: 41 }, { n: 43, resumedAfter: 41 }])
  })
}
