// One Fastify instance of a chat-like app whose hub runs on Redis: what the tests
// start several of, as separate processes, on one Redis. It prints
// {"url": ...} on stdout once it listens, and closes on SIGTERM.
//
// Environment: REDIS_URL (required; `cluster://host:port,host:port` for a Redis
// Cluster), HISTORY (events kept per topic), HEARTBEAT_MS, PUBLISH_TIMEOUT_MS,
// PROBE_INTERVAL_MS.
//
// Routes, beside the hub's two (GET /rooms/:room/events, POST /rooms/:room/messages):
// POST /rooms/:room/burst?count=&size= publishes events one after the other from here;
// POST /drop cuts every open event stream (clients reconnect); GET /stats counts the
// streams this instance served; GET /memory is the heap after a full GC; GET / is an
// empty page for a browser; GET /health is the hub's health().

import Fastify from 'fastify'
import Redis from 'ioredis'
import type { Socket } from 'node:net'
import fastifyTypedSse from '../../index.js'
import { createHub } from '../../lib/hub/index.js'
import { redisEngine } from '../../lib/redis/index.js'
import { Message } from './message.js'
import { runChild, serveAsChild } from '../helpers/child-app.js'

function numberFromEnv (name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`)
  return value
}

async function main (): Promise<void> {
  const redisUrl = process.env.REDIS_URL
  if (redisUrl === undefined) throw new Error('REDIS_URL is required')
  const name = process.env.INSTANCE_NAME ?? String(process.pid)
  const client = redisUrl.startsWith('cluster://')
    ? new Redis.Cluster(redisUrl.slice('cluster://'.length).split(',').map(node => {
      const [host, port] = node.split(':')
      return { host: host as string, port: Number(port) }
    }), { shardedSubscribers: true, clusterRetryStrategy: () => 50 })
    : new Redis(redisUrl, { retryStrategy: () => 50 })
  client.on('error', () => {}) // the tests stop Redis on purpose
  const hub = createHub({
    events: { message: Message },
    engine: redisEngine({
      client,
      history: numberFromEnv('HISTORY', 1000),
      publishTimeoutMs: numberFromEnv('PUBLISH_TIMEOUT_MS', 2000),
      probeIntervalMs: numberFromEnv('PROBE_INTERVAL_MS', 5000)
    })
  })

  const app = Fastify()
  await app.register(fastifyTypedSse, { heartbeatInterval: numberFromEnv('HEARTBEAT_MS', 15_000), retry: 100 })
  await app.register(hub.plugin)
  app.addHook('onClose', async () => { client.disconnect() })

  const streams = new Set<Socket>()
  let served = 0

  app.get<{ Params: { room: string } }>('/rooms/:room/events', { schema: { sse: hub.events } }, async (request, reply) => {
    served++
    const socket = request.raw.socket
    streams.add(socket)
    socket.once('close', () => streams.delete(socket))
    return reply.sseStream(hub.subscribe(`room:${request.params.room}`))
  })

  app.post<{ Params: { room: string }, Body: { n: number, pad?: string } }>('/rooms/:room/messages', async (request) => {
    const id = await hub.publish(`room:${request.params.room}`, { event: 'message', data: { ...request.body, from: name } })
    return { id }
  })

  app.post<{ Params: { room: string }, Querystring: { count: string, start?: string, size?: string } }>('/rooms/:room/burst', async (request) => {
    const count = Number(request.query.count)
    const start = Number(request.query.start ?? 0)
    const pad = 'x'.repeat(Number(request.query.size ?? 0))
    const ids: string[] = []
    for (let n = start; n < start + count; n++) {
      ids.push(await hub.publish(`room:${request.params.room}`, { event: 'message', data: { n, from: name, pad } }))
    }
    return { first: ids[0], last: ids.at(-1) }
  })

  app.post('/drop', async () => {
    const dropped = streams.size
    for (const socket of streams) socket.destroy()
    return { dropped }
  })

  app.get('/stats', async () => ({ served, open: streams.size }))

  app.get('/health', async () => hub.health())

  // A page for a browser to open its EventSource from (same origin).
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send('<!doctype html><title>instance</title>'))

  app.get('/memory', async () => {
    globalThis.gc?.()
    return process.memoryUsage()
  })

  await serveAsChild(app)
}

runChild(main)
