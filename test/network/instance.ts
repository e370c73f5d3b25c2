// One app instance of the network fault tests (started as a child process with
// test/redis/helpers.ts's startInstance): the hub on Redis, its stream and publish
// routes, the README's readiness route, and what the tests read from outside:
// a publisher that runs inside the instance (numbered events at a given rate, each
// outcome recorded), the streams' end reasons with the time and client port of each,
// the heap after a full GC. Prints {"url": ...} once it listens; closes on SIGTERM.
//
// Environment: REDIS_URL (required), HEARTBEAT_MS, PUBLISH_TIMEOUT_MS, SEND_TIMEOUT_MS, HISTORY.

import diagnostics from 'node:diagnostics_channel'
import Fastify from 'fastify'
import Redis from 'ioredis'
import fastifyTypedSse, { type SseStreamMessage } from '../../index.js'
import { createHub } from '../../lib/hub/index.js'
import { redisEngine } from '../../lib/redis/index.js'
import { Message } from '../redis/message.js'
import { runChild, serveAsChild } from '../helpers/child-app.js'

function numberFromEnv (name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${process.env[name]}`)
  return value
}

/** A publisher inside the instance: `rate` numbered events per second, one after the other on the engine. */
interface Loop {
  next: number
  timer: NodeJS.Timeout
  /** Numbers whose publish rejected, and how long each took to reject. */
  rejected: Array<{ n: number, ms: number, code: string }>
  acked: number
  pending: number
}

async function main (): Promise<void> {
  const redisUrl = process.env.REDIS_URL
  if (redisUrl === undefined) throw new Error('REDIS_URL is required')
  const name = process.env.INSTANCE_NAME ?? String(process.pid)
  const client = new Redis(redisUrl, { retryStrategy: () => 50 })
  client.on('error', () => {}) // the tests break the network on purpose
  const hub = createHub({
    events: { message: Message },
    engine: redisEngine({
      client,
      history: numberFromEnv('HISTORY', 1000),
      publishTimeoutMs: numberFromEnv('PUBLISH_TIMEOUT_MS', 2000)
    })
  })

  const app = Fastify()
  await app.register(fastifyTypedSse, {
    heartbeatInterval: numberFromEnv('HEARTBEAT_MS', 15_000),
    sendTimeout: numberFromEnv('SEND_TIMEOUT_MS', 60_000),
    retry: 100
  })
  await app.register(hub.plugin)
  app.addHook('onClose', async () => { client.disconnect() })

  // The README's readiness route.
  app.get('/ready', async (_request, reply) => {
    const health = hub.health()
    return reply.code(health.ready ? 200 : 503).send(health)
  })

  app.get<{ Params: { room: string } }>('/rooms/:room/events', { schema: { sse: hub.events } }, async (request, reply) =>
    reply.sseStream(hub.subscribe(`room:${request.params.room}`)))

  app.post<{ Params: { room: string }, Body: { n: number, pad?: string } }>('/rooms/:room/messages', async (request) => {
    const id = await hub.publish(`room:${request.params.room}`, { event: 'message', data: { ...request.body, from: name } })
    return { id }
  })

  const loops = new Map<string, Loop>()
  app.post<{ Params: { room: string }, Body: { rate: number, start?: number, pad?: number } }>('/rooms/:room/loop', async (request) => {
    const topic = `room:${request.params.room}`
    if (loops.has(topic)) throw new Error(`already publishing to ${topic}`)
    const { rate, start = 0 } = request.body
    const pad = 'x'.repeat(request.body.pad ?? 0)
    let budget = 0
    let last = performance.now()
    const loop: Loop = {
      next: start,
      rejected: [],
      acked: 0,
      pending: 0,
      // Every 10 ms what is due: each publish started without waiting for the one before,
      // in order on the engine's one command connection.
      timer: setInterval(() => {
        const now = performance.now()
        budget += (now - last) * rate / 1000
        last = now
        for (; budget >= 1; budget--) {
          const n = loop.next++
          const started = performance.now()
          loop.pending++
          // `from`: the publish time, for the clients' latency.
          hub.publish(topic, { event: 'message', data: { n, from: String(Date.now()), pad } }).then(() => {
            loop.acked++
            loop.pending--
          }, (err: { code?: string }) => {
            loop.pending--
            loop.rejected.push({ n, ms: performance.now() - started, code: err.code ?? String(err) })
          })
        }
      }, 10)
    }
    loops.set(topic, loop)
    return { started: start }
  })
  // Stops the loop (?stop=1) or only reports it; `rejected` lists every rejected number.
  app.get<{ Params: { room: string }, Querystring: { stop?: string } }>('/rooms/:room/loop', async (request) => {
    const topic = `room:${request.params.room}`
    const loop = loops.get(topic)
    if (loop === undefined) throw new Error(`not publishing to ${topic}`)
    if (request.query.stop === '1') {
      clearInterval(loop.timer)
      loops.delete(topic)
    }
    return { next: loop.next, acked: loop.acked, pending: loop.pending, rejected: loop.rejected }
  })

  // Every stream's end: why, when (ms since the epoch) and from which client port
  // (noted at the open: a destroyed socket no longer knows it).
  const ended: Array<{ reason: string | undefined, at: number, port: number | undefined }> = []
  const ports = new WeakMap<object, number | undefined>()
  diagnostics.subscribe('fastify-typed-sse:stream:open', (message) => {
    const { request } = message as SseStreamMessage
    ports.set(request, request.raw.socket.remotePort)
  })
  diagnostics.subscribe('fastify-typed-sse:stream:close', (message) => {
    const { request, reason } = message as SseStreamMessage
    ended.push({ reason, at: Date.now(), port: ports.get(request) })
  })
  app.get('/stats', async () => ({ stats: app.sseStats(), ended }))

  app.get('/memory', async () => {
    globalThis.gc?.()
    return process.memoryUsage()
  })

  await serveAsChild(app, () => {
    for (const loop of loops.values()) clearInterval(loop.timer)
  })
}

runChild(main)
