// One app instance of the soak (bench/soak/run.ts starts two, behind nginx): the
// hub on Redis, one stream route, a batch publish route for the load process, and
// a stats route the run samples every 10 s. Prints {"url": ...} once it listens;
// closes on SIGTERM.
//
// Environment: REDIS_URL (required).

import { Type } from '@sinclair/typebox'
import Fastify from 'fastify'
import Redis from 'ioredis'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import fastifyTypedSse from '../../index.js'
import { createHub } from '../../lib/hub/index.js'
import { redisEngine } from '../../lib/redis/index.js'
import { runChild, serveAsChild } from '../../test/helpers/child-app.js'

/** A numbered event of a topic, with the time the load process asked for it (for latency). */
const Tick = Type.Object({ n: Type.Integer({ minimum: 0 }), t: Type.Number() })
const Batch = Type.Array(Type.Object({ topic: Type.String(), n: Type.Integer({ minimum: 0 }), t: Type.Number() }))

async function main (): Promise<void> {
  const redisUrl = process.env.REDIS_URL
  if (redisUrl === undefined) throw new Error('REDIS_URL is required')
  const client = new Redis(redisUrl, { retryStrategy: () => 100 })
  client.on('error', () => {}) // the soak restarts and blackholes Redis on purpose
  const hub = createHub({ events: { tick: Tick }, engine: redisEngine({ client, history: 1000 }) })

  const app = Fastify({ logger: false })
  await app.register(fastifyTypedSse, { retry: 200 })
  await app.register(hub.plugin)
  app.addHook('onClose', async () => { client.disconnect() })

  app.get<{ Params: { topic: string } }>('/topics/:topic/events', { schema: { sse: hub.events } }, async (request, reply) =>
    reply.sseStream(hub.subscribe(request.params.topic)))

  // Published in the order given, without waiting in between: one topic's events
  // reach Redis in order over the one command connection. Each gets its id or its error code.
  app.post<{ Body: Array<{ topic: string, n: number, t: number }> }>('/publish', { schema: { body: Batch } }, async (request) => {
    const outcomes = await Promise.allSettled(request.body.map(({ topic, n, t }) => hub.publish(topic, { event: 'tick', data: { n, t } })))
    return outcomes.map(outcome => outcome.status === 'fulfilled' ? { id: outcome.value } : { error: (outcome.reason as { code?: string }).code ?? 'ERROR' })
  })

  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  app.get('/soak/stats', async () => {
    globalThis.gc?.()
    const memory = process.memoryUsage()
    const loopDelayP99Ms = delay.percentile(99) / 1e6
    delay.reset()
    return { heapUsed: memory.heapUsed, rss: memory.rss, open: app.sseStats().open, loopDelayP99Ms, health: hub.health() }
  })

  await serveAsChild(app)
}

runChild(main)
