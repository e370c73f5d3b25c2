// fastify-sse-v2: reply.sse(asyncIterable). Its data must be a string, so payloads are
// JSON.stringify'd by the caller; it hands the source no signal.

import Fastify from 'fastify'
import { FastifySSEPlugin } from 'fastify-sse-v2'
import { countParam, serve } from './harness.js'
import { FLOOD_TEXT, HubFanout, flood, oneThenIdle, ticks, tokens, type Tick } from './sources.js'

const tickItem = (tick: Tick) => ({ event: 'tick', data: JSON.stringify(tick) })
const deltaItem = (delta: string) => ({ data: JSON.stringify({ delta }) })
const chunkItem = (value: number) => ({ event: 'chunk', data: JSON.stringify({ value, text: FLOOD_TEXT }) })

serve(async () => {
  const app = Fastify({ logger: false })
  await app.register(FastifySSEPlugin)
  const fanout = new HubFanout(tickItem)

  app.get('/burst', (request, reply) => {
    reply.sse(ticks(countParam(request.url, 1000), tickItem))
  })
  app.get('/tokens', (request, reply) => {
    reply.sse(tokens(countParam(request.url, 1000), deltaItem, { data: '[DONE]' }))
  })
  app.get('/fanout', (_request, reply) => {
    reply.sse(fanout.subscribe())
  })
  app.get('/churn', (_request, reply) => {
    reply.sse(oneThenIdle(tickItem({ value: 0, ts: 0 })))
  })
  app.get('/abort', (_request, reply) => {
    reply.sse(flood(chunkItem))
  })

  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    server: app.server,
    fanout
  }
})
