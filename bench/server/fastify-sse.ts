// @fastify/sse: sse(reply).send(asyncIterable) on routes declared with { sse: true }.
// It hands the source no signal, so the sources get none.

import fastifySse, { type SSEReplyInterface } from '@fastify/sse'
import Fastify, { type FastifyReply } from 'fastify'
import { countParam, serve } from './harness.js'
import { FLOOD_TEXT, HubFanout, flood, oneThenIdle, ticks, tokens, type Tick } from './sources.js'

// fastify-sse-v2 declares FastifyReply.sse too; in one program the two declarations collide.
const sse = (reply: FastifyReply): SSEReplyInterface => reply.sse as unknown as SSEReplyInterface

const tickItem = (tick: Tick) => ({ event: 'tick', data: tick })
const deltaItem = (delta: string) => ({ data: { delta } })
const chunkItem = (value: number) => ({ event: 'chunk', data: { value, text: FLOOD_TEXT } })

serve(async () => {
  const app = Fastify({ logger: false })
  await app.register(fastifySse)
  const fanout = new HubFanout(tickItem)

  app.get('/burst', { sse: true }, async (request, reply) => {
    await sse(reply).send(ticks(countParam(request.url, 1000), tickItem))
  })
  app.get('/tokens', { sse: true }, async (request, reply) => {
    await sse(reply).send(tokens(countParam(request.url, 1000), deltaItem))
    await sse(reply).send('[DONE]')
  })
  app.get('/fanout', { sse: true }, async (_request, reply) => {
    await sse(reply).send(fanout.subscribe())
  })
  app.get('/churn', { sse: true }, async (_request, reply) => {
    await sse(reply).send(oneThenIdle(tickItem({ value: 0, ts: 0 })))
  })
  app.get('/abort', { sse: true }, async (_request, reply) => {
    await sse(reply).send(flood(chunkItem))
  })

  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    server: app.server,
    fanout
  }
})
