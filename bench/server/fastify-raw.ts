// Fastify, with the events written by hand to reply.raw (the hijacked response).

import Fastify, { type FastifyReply } from 'fastify'
import { DONE, ResponseSet, frameChunk, frameDelta, frameTick, pump } from './hand-written.js'
import { countParam, serve, SSE_HEADERS } from './harness.js'
import { FLOOD_TEXT, flood, oneThenIdle, ticks, tokens, type Tick } from './sources.js'

const sameTick = (tick: Tick): Tick => tick
const sameDelta = (delta: string): string => delta
const sameValue = (value: number): number => value
const frameFlood = (value: number): string => frameChunk(value, FLOOD_TEXT)

function startStream (reply: FastifyReply): FastifyReply['raw'] {
  reply.hijack()
  reply.raw.writeHead(200, SSE_HEADERS)
  return reply.raw
}

serve(async () => {
  const app = Fastify({ logger: false })
  const fanout = new ResponseSet()
  const onError = (err: unknown): void => console.error(err)

  app.get('/burst', (request, reply) => {
    pump(startStream(reply), () => ticks(countParam(request.url, 1000), sameTick), frameTick).catch(onError)
  })
  app.get('/tokens', (request, reply) => {
    pump(startStream(reply), () => tokens(countParam(request.url, 1000), sameDelta), frameDelta, DONE).catch(onError)
  })
  app.get('/fanout', (_request, reply) => {
    const raw = startStream(reply)
    raw.flushHeaders()
    fanout.add(raw)
  })
  app.get('/churn', (_request, reply) => {
    pump(startStream(reply), signal => oneThenIdle({ value: 0, ts: 0 }, signal), frameTick).catch(onError)
  })
  app.get('/abort', (_request, reply) => {
    pump(startStream(reply), signal => flood(sameValue, signal), frameFlood).catch(onError)
  })

  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    server: app.server,
    fanout: { size: () => fanout.size, publish: tick => fanout.publish(tick), end: () => fanout.end() }
  }
})
