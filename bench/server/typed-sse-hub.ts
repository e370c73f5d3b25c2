// This plugin's hub: each stream is `reply.sseStream(hub.subscribe(topic))`, each
// broadcast one `hub.publish`, validated and serialized once. `/fanout` runs on the
// memory engine (the hub workloads); `/topics/<name>` on the Redis engine when
// BENCH_REDIS_URL is set (hub-redis, with BENCH_DROP_SHARE of the live messages of
// the engine's subscriber connection thrown away), else on the memory engine.
// The runner passes the plugin compiled to JavaScript in BENCH_PLUGIN; without it
// (a server started by hand) the TypeScript sources are loaded through tsx.

import { Type } from '@sinclair/typebox'
import Fastify from 'fastify'
import Redis from 'ioredis'
import { dirname, join } from 'node:path'
import type fastifyTypedSse from '../../index.js'
import type { HubEngine } from '../../lib/hub/engine.js'
import type * as HubModule from '../../lib/hub/index.js'
import type * as RedisModule from '../../lib/redis/index.js'
import { serve, type SeqTick } from './harness.js'
import { dropLiveMessagesOfDuplicates } from './lossy.js'
import type { Tick } from './sources.js'

const TickSchema = Type.Object({ value: Type.Number(), ts: Type.Number() })
const SeqTickSchema = Type.Object({ seq: Type.Integer({ minimum: 0 }), ts: Type.Number() })

/** One module of the plugin: compiled next to BENCH_PLUGIN's entry, or the TypeScript source. */
async function load<T> (path: string): Promise<T> {
  const compiled = process.env.BENCH_PLUGIN
  const loaded = await import(compiled === undefined ? join('..', '..', path + '.ts') : join(dirname(compiled), path + '.js')) as T & { default?: T }
  // A CommonJS module imported from here: its exports may come as `default`.
  return (loaded.default ?? loaded) as T
}

/** The engine of the topics: Redis when BENCH_REDIS_URL names one, else memory. */
function topicEngine (redis: typeof RedisModule | undefined, memoryEngine: typeof HubModule.memoryEngine): HubEngine {
  const history = Number(process.env.BENCH_HISTORY ?? 1000)
  const url = process.env.BENCH_REDIS_URL
  if (redis === undefined || url === undefined) return memoryEngine({ history })
  // cluster://host:port,... names a Redis Cluster (hub-redis-cluster).
  const client = url.startsWith('cluster://')
    ? new Redis.Cluster(url.slice('cluster://'.length).split(',').map(node => ({ host: node.split(':')[0] as string, port: Number(node.split(':')[1]) })), { shardedSubscribers: true })
    : new Redis(url)
  dropLiveMessagesOfDuplicates(client as Redis, Number(process.env.BENCH_DROP_SHARE ?? 0))
  return redis.redisEngine({ client, history })
}

serve(async () => {
  const plugin = await load<{ default: typeof fastifyTypedSse }>('index')
  const { createHub, memoryEngine } = await load<typeof HubModule>('lib/hub/index')
  const redis = process.env.BENCH_REDIS_URL === undefined ? undefined : await load<typeof RedisModule>('lib/redis/index')

  const app = Fastify({ logger: false })
  await app.register(plugin.default ?? plugin, { validate: true })

  // Each fanout run ends by closing its hub (which ends its streams); the next one gets a new hub.
  const newFanoutHub = () => createHub({ events: { tick: TickSchema } })
  let fanoutHub = newFanoutHub()
  app.get('/fanout', { schema: { sse: fanoutHub.events } }, async (_request, reply) =>
    reply.sseStream(fanoutHub.subscribe('ticks')))

  const topicHub = createHub({
    events: { tick: SeqTickSchema },
    engine: topicEngine(redis, memoryEngine)
  })
  await app.register(topicHub.plugin)
  app.get<{ Params: { name: string } }>('/topics/:name', { schema: { sse: topicHub.events } }, async (request, reply) =>
    reply.sseStream(topicHub.subscribe('bench:' + request.params.name)))

  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    server: app.server,
    fanout: {
      // The hub keeps no count the bench could read without adding work per stream: the client counts.
      size: () => undefined,
      publish: (tick: Tick) => fanoutHub.publish('ticks', { event: 'tick', data: tick }),
      end: async () => {
        const ended = fanoutHub
        fanoutHub = newFanoutHub()
        await ended.close()
      }
    },
    topics: {
      publish: (name: string, tick: SeqTick) => topicHub.publish('bench:' + name, { event: 'tick', data: tick })
    }
  }
})
