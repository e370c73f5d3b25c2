// Rule 10: an idle stream hears a comment at least every heartbeatInterval ms,
// a busy one does not (its events are enough), a heartbeat is never pushed into
// a socket whose buffer is full, and the heartbeat keeps a stream alive under
// Fastify's connectionTimeout.

import { test } from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { listen } from './helpers/server.js'
import { plateau, waitFor } from './helpers/wait.js'

interface SseClient {
  response: IncomingMessage
  /** When the response headers arrived. */
  openedAt: number
  /** The events, without the end marker. */
  events: Array<EventSourceMessage & { at: number }>
  commentTimes: number[]
  /** The end marker came: the source finished. */
  finished: boolean
  ended: boolean
  closed: boolean
  /** Starts reading (a client opened with `read: false` is stalled until then). */
  read (): void
  leave (): void
}

/** Opens a stream with node:http and parses it with eventsource-parser, noting when each event and comment arrived. */
async function connect (url: string, options: { read?: boolean } = {}): Promise<SseClient> {
  const request = http.get(url, { agent: false })
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve)
    request.once('error', reject)
  })
  request.on('error', () => {}) // a stream cut by the server surfaces as ECONNRESET
  const client: SseClient = {
    response,
    openedAt: performance.now(),
    events: [],
    commentTimes: [],
    finished: false,
    ended: false,
    closed: false,
    read: () => {
      const parser = createParser({
        onEvent: (event) => {
          if (event.event === 'end' && event.data === '[DONE]' && !client.finished) client.finished = true
          else client.events.push({ ...event, at: performance.now() })
        },
        onComment: () => client.commentTimes.push(performance.now())
      })
      response.setEncoding('utf8')
      response.on('data', (text: string) => parser.feed(text))
    },
    leave: () => request.destroy()
  }
  response.on('end', () => { client.ended = true })
  response.on('close', () => { client.closed = true })
  response.on('error', () => {})
  if (options.read !== false) client.read()
  return client
}

/** A source that stays idle (honouring its signal) and never yields. */
async function * idleSource ({ signal }: { signal: AbortSignal }) {
  await sleep(60_000, null, { signal })
  yield { data: 'never' }
}

test('an idle stream gets a comment at least every heartbeatInterval, the first before any event', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      await sleep(1500, null, { signal })
      yield { data: 'late' }
      await sleep(60_000, null, { signal })
    }))
  }, { plugin: { heartbeatInterval: 200 } })
  t.teardown(() => app.close())

  const client = await connect(url)
  t.teardown(() => client.leave())
  await waitFor(() => client.events.length === 1, 10_000, 'the late event')
  const event = client.events[0]!
  const before = client.commentTimes.filter(at => at < event.at)
  t.ok(before.length > 0 && before[0]! < event.at, 'the first comment arrived before the first event')
  t.ok(before[0]! - client.openedAt < 700, `the first comment came ${Math.round(before[0]! - client.openedAt)} ms after the headers`)
  // 1500 ms at one comment per 200 ms is 7; 5 leaves room for a busy machine, fewer means a longer period.
  t.ok(before.length >= 5, `${before.length} comments in the 1500 ms before the event`)
  const gaps = before.slice(1).map((at, i) => at - before[i]!)
  t.ok(Math.max(...gaps) < 700, `the longest silence between comments was ${Math.round(Math.max(...gaps))} ms`)
  t.same(client.events.map(e => e.data), ['late'], 'heartbeats make no events')
})

test('a busy stream that writes an event every 50 ms gets no heartbeat comments', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * () {
      for (let n = 0; n < 40; n++) {
        yield { id: n, data: 'busy' }
        await sleep(50)
      }
    }))
  }, { plugin: { heartbeatInterval: 300 } })
  t.teardown(() => app.close())

  const client = await connect(url)
  t.teardown(() => client.leave())
  await waitFor(() => client.ended, 15_000, 'the stream to end')
  t.equal(client.events.length, 40)
  t.equal(client.commentTimes.length, 0, 'no heartbeat between events')
})

test('heartbeatInterval 0 turns the heartbeat off, and a stream may override the plugin\'s interval', async (t) => {
  const quiet = await listen((app) => {
    app.get('/plugin-default', async (_request, reply) => reply.sseStream(idleSource))
    app.get('/stream-override', async (_request, reply) => reply.sseStream(idleSource, { heartbeatInterval: 200 }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => quiet.app.close())
  const beating = await listen((app) => {
    app.get('/plugin-default', async (_request, reply) => reply.sseStream(idleSource))
    app.get('/stream-off', async (_request, reply) => reply.sseStream(idleSource, { heartbeatInterval: 0 }))
  }, { plugin: { heartbeatInterval: 200 } })
  t.teardown(() => beating.app.close())

  const clients = {
    pluginOff: await connect(quiet.url + '/plugin-default'),
    streamOn: await connect(quiet.url + '/stream-override'),
    pluginOn: await connect(beating.url + '/plugin-default'),
    streamOff: await connect(beating.url + '/stream-off')
  }
  for (const client of Object.values(clients)) t.teardown(() => client.leave())
  await sleep(1500)

  t.equal(clients.pluginOff.commentTimes.length, 0, 'plugin heartbeatInterval 0: no comments')
  t.ok(clients.streamOn.commentTimes.length >= 5, `a stream's heartbeatInterval 200 overrides the plugin's 0 (${clients.streamOn.commentTimes.length} comments)`)
  t.ok(clients.pluginOn.commentTimes.length >= 5, `plugin heartbeatInterval 200 (${clients.pluginOn.commentTimes.length} comments)`)
  t.equal(clients.streamOff.commentTimes.length, 0, 'a stream\'s heartbeatInterval 0 overrides the plugin\'s 200')
})

test('heartbeats are not written into a full socket buffer, and the stream stays well-formed', async (t) => {
  const payload = 'y'.repeat(1000)
  const total = 20_000
  let pulled = 0
  let response: ServerResponse | undefined
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => {
      response = reply.raw
      return reply.sseStream(async function * () {
        for (let n = 0; n < total; n++) {
          pulled++
          yield { id: n, data: payload }
        }
      })
    })
  }, { plugin: { heartbeatInterval: 100 } })
  t.teardown(() => app.close())

  const client = await connect(url, { read: false })
  t.teardown(() => client.leave())
  const pulledWhileStalled = await plateau(() => pulled, 1000, 15_000)
  t.ok(pulledWhileStalled < total, `the server waits on the stalled client (pulled ${pulledWhileStalled})`)
  const bufferedBefore = response!.writableLength
  // Ten heartbeat intervals of idling: a heartbeat that ignored the full buffer would add to it.
  await sleep(1000)
  t.equal(pulled, pulledWhileStalled, 'nothing more was pulled')
  t.ok(response!.writableLength <= bufferedBefore, `nothing was added to the full buffer (${bufferedBefore} -> ${response!.writableLength} bytes)`)

  client.read()
  await waitFor(() => client.ended, 30_000, 'the whole stream')
  const brokenAt = client.events.findIndex((event, n) => event.id !== String(n) || event.data !== payload || event.event !== undefined)
  t.equal(brokenAt, -1, 'every event arrived intact and in order')
  t.equal(client.events.length, total, 'no event was lost')
})

test('with heartbeats, Fastify\'s connectionTimeout does not end a stream idle for 3 s', async (t) => {
  const idleThenEvent = async function * ({ signal }: { signal: AbortSignal }) {
    await sleep(3000, null, { signal })
    yield { data: 'still here' }
  }
  const withHeartbeat = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(idleThenEvent))
  }, { plugin: { heartbeatInterval: 300 }, fastify: { connectionTimeout: 1000 } })
  t.teardown(() => withHeartbeat.app.close())
  // The control: the same stream without heartbeats is cut by the timeout, so the test above can fail.
  const withoutHeartbeat = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(idleThenEvent))
  }, { plugin: { heartbeatInterval: 0 }, fastify: { connectionTimeout: 1000 } })
  t.teardown(() => withoutHeartbeat.app.close())

  const kept = await connect(withHeartbeat.url)
  const cut = await connect(withoutHeartbeat.url)
  t.teardown(() => kept.leave())
  t.teardown(() => cut.leave())
  await waitFor(() => kept.closed && cut.closed, 15_000, 'both streams to end')

  t.same(kept.events.map(event => event.data), ['still here'], 'the stream kept by heartbeats got its event')
  t.ok(kept.ended && kept.finished, 'and ended normally, with the end marker')
  t.notOk(cut.finished, 'the cut stream has no end marker')
  t.same(cut.events, [], 'without heartbeats the idle stream was cut before its event')
  t.notOk(cut.ended, 'without heartbeats the response did not end normally')
})
