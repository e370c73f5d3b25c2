// better-sse in Fastify: a Session on the hijacked response, session.iterate() for
// sources and a Channel for fanout. It hands the source no signal.

import type { Session } from 'better-sse' with { 'resolution-mode': 'import' }
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { countParam, serve } from './harness.js'
import { FLOOD_TEXT, flood, oneThenIdle, ticks, tokens, type Tick } from './sources.js'

const sameTick = (tick: Tick): Tick => tick
const deltaItem = (delta: string) => ({ delta })
const chunkItem = (value: number) => ({ value, text: FLOOD_TEXT })

// better-sse's typings are ESM-only, so it is loaded with import() from this CommonJS module.
const betterSse = import('better-sse')

async function open (request: FastifyRequest, reply: FastifyReply): Promise<Session> {
  reply.hijack()
  return (await betterSse).createSession(request.raw, reply.raw)
}

/** better-sse never ends a response itself. A source that throws (a push after the client left) ends it too. */
async function iterate (reply: FastifyReply, session: Session, source: AsyncIterable<unknown>, eventName: string): Promise<void> {
  try {
    await session.iterate(source, { eventName })
  } catch {
    // "Cannot push data to a non-active session": the client left.
  }
  reply.raw.end()
}

serve(async () => {
  const { createChannel, createEventBuffer } = await betterSse
  const app = Fastify({ logger: false })
  const channel = createChannel()
  // The sentinel is plain text, not JSON.
  const doneEvent = createEventBuffer({ serializer: String }).data('[DONE]').dispatch()
  const fanoutResponses = new Set<ServerResponse>()

  app.get('/burst', async (request, reply) => {
    const session = await open(request, reply)
    await iterate(reply, session, ticks(countParam(request.url, 1000), sameTick), 'tick')
  })
  app.get('/tokens', async (request, reply) => {
    const session = await open(request, reply)
    await session.iterate(tokens(countParam(request.url, 1000), deltaItem), { eventName: 'message' })
    await session.batch(doneEvent)
    reply.raw.end()
  })
  app.get('/fanout', async (request, reply) => {
    const session = await open(request, reply)
    channel.register(session)
    fanoutResponses.add(reply.raw)
    reply.raw.on('close', () => fanoutResponses.delete(reply.raw))
  })
  app.get('/churn', async (request, reply) => {
    const session = await open(request, reply)
    await iterate(reply, session, oneThenIdle({ value: 0, ts: 0 }), 'tick')
  })
  app.get('/abort', async (request, reply) => {
    const session = await open(request, reply)
    await iterate(reply, session, flood(chunkItem), 'chunk')
  })

  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    server: app.server,
    fanout: {
      size: () => channel.sessionCount,
      publish: tick => { channel.broadcast(tick, 'tick') },
      end: () => {
        for (const res of fanoutResponses) res.end()
        fanoutResponses.clear()
      }
    }
  }
})
