// This plugin, with validation on (the default) or off (BENCH_VALIDATE=0).
// Every route declares its events with TypeBox, as users of the plugin would.
// The runner passes the plugin compiled to JavaScript in BENCH_PLUGIN; without it
// (a server started by hand) the TypeScript source is loaded through tsx.

import { Type } from '@sinclair/typebox'
import Fastify from 'fastify'
import type fastifyTypedSse from '../../index.js'
import { countParam, serve } from './harness.js'
import { FLOOD_TEXT, HubFanout, flood, oneThenIdle, ticks, tokens, type Tick } from './sources.js'

const TickSchema = Type.Object({ value: Type.Number(), ts: Type.Number() })
const DeltaSchema = Type.Object({ delta: Type.String() })
const ChunkSchema = Type.Object({ value: Type.Number(), text: Type.String() })

const tickItem = (tick: Tick) => ({ event: 'tick' as const, data: tick })
const deltaItem = (delta: string) => ({ data: { delta } })
const chunkItem = (value: number) => ({ event: 'chunk' as const, data: { value, text: FLOOD_TEXT } })

async function loadPlugin (): Promise<typeof fastifyTypedSse> {
  const loaded = await import(process.env.BENCH_PLUGIN ?? '../../index.js') as { default: typeof fastifyTypedSse }
  return loaded.default
}

serve(async () => {
  const app = Fastify({ logger: false })
  await app.register(await loadPlugin(), { validate: process.env.BENCH_VALIDATE !== '0' })
  const fanout = new HubFanout(tickItem)

  app.get('/burst', { schema: { sse: { tick: TickSchema } } }, async (request, reply) =>
    reply.sseStream(ticks(countParam(request.url, 1000), tickItem)))
  app.get('/tokens', { schema: { sse: { message: DeltaSchema } } }, async (request, reply) =>
    reply.sseStream(tokens(countParam(request.url, 1000), deltaItem), { done: '[DONE]' }))
  app.get('/fanout', { schema: { sse: { tick: TickSchema } } }, async (_request, reply) =>
    reply.sseStream(fanout.subscribe()))
  app.get('/churn', { schema: { sse: { tick: TickSchema } } }, async (_request, reply) =>
    reply.sseStream(({ signal }) => oneThenIdle(tickItem({ value: 0, ts: 0 }), signal)))
  app.get('/abort', { schema: { sse: { chunk: ChunkSchema } } }, async (_request, reply) =>
    reply.sseStream(({ signal }) => flood(chunkItem, signal)))

  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    server: app.server,
    fanout
  }
})
