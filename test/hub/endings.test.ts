// A hub subscription never finishes on its own: every end of it is a cut, so the
// stream writes no end marker (api.md rule 8) and clients reconnect. Checked on the
// bytes, over real sockets, beside a finite stream of the same app that gets one.

import t, { type Test } from 'tap'
import Fastify from 'fastify'
import fastifyTypedSse from '../../index.js'
import { createHub } from '../../lib/hub/index.js'
import { useFreshConnections } from '../helpers/fetch.js'
import { END_MARKER } from '../helpers/server.js'
import { events } from './helpers.js'

async function start (t: Test): Promise<{ url: string, hub: ReturnType<typeof createHub<typeof events>> }> {
  const hub = createHub({ events })
  const app = Fastify({ pluginTimeout: 60_000 })
  await app.register(fastifyTypedSse, { heartbeatInterval: 0 })
  await app.register(hub.plugin)
  app.get<{ Params: { topic: string }, Querystring: { onGap?: 'end', after?: string } }>('/topics/:topic', { schema: { sse: hub.events } }, async (request, reply) => {
    const { onGap, after } = request.query
    return reply.sseStream(hub.subscribe(request.params.topic, { from: 'earliest', ...(onGap === undefined ? {} : { onGap }), ...(after === undefined ? {} : { lastEventId: after }) }))
  })
  app.get('/finite', { schema: { sse: hub.events } }, async (_request, reply) => reply.sseStream([{ event: 'message' as const, data: { n: 1, text: 'one' } }]))
  t.teardown(() => app.close())
  useFreshConnections(t)
  return { url: await app.listen({ port: 0, host: '127.0.0.1' }), hub }
}

/** Reads `response` until `until(text)` holds, then returns what came so far and a reader for the rest. */
async function readUntil (response: Response, until: (text: string) => boolean): Promise<{ text: string, rest: () => Promise<string> }> {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (!until(text)) {
    const chunk = await reader.read()
    if (chunk.done) break
    text += decoder.decode(chunk.value, { stream: true })
  }
  const rest = async (): Promise<string> => {
    let more = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) more += decoder.decode(chunk.value, { stream: true })
    return more
  }
  return { text, rest }
}

t.test('a finite stream of the same app ends with the marker (the control)', async (t) => {
  const { url } = await start(t)
  t.equal(await (await fetch(`${url}/finite`)).text(), 'data: {"n":1,"text":"one"}\n\n' + END_MARKER)
})

t.test("onGap: 'end' ends the stream after the reset, without the end marker", async (t) => {
  const { url, hub } = await start(t)
  const current = await hub.publish('a', { data: { n: 1, text: 'one' } })
  const body = await (await fetch(`${url}/topics/a?onGap=end&after=bogus`)).text()
  t.equal(body, `event: reset\nid: ${current}\ndata: {"reason":"unknown-id"}\n\n`, 'the reset and nothing after it: a cut, the client comes back from the reset\'s id')
  t.notOk(body.includes('event: end'))
})

t.test('hub.close() ends its subscriptions without the end marker', async (t) => {
  const { url, hub } = await start(t)
  await hub.publish('a', { data: { n: 1, text: 'one' } })
  const response = await fetch(`${url}/topics/a`)
  const { text, rest } = await readUntil(response, text => text.includes('\n\n'))
  t.match(text, /^id: .+\ndata: \{"n":1,"text":"one"\}\n\n$/, 'the event held')
  await hub.close()
  t.equal(await rest(), '', 'the response ended, and nothing was written after the event: no marker')
})
