// `npm start`: the demo on http://127.0.0.1:3000 (PORT and HOST change it).
// With REDIS_URL set, the chat room's hub runs on Redis, so that several demo
// instances serve one room (`npm run demo:cluster`); with REDIS_CLUSTER
// (host:port,host:port,...) it runs on a Redis Cluster.

import type { HubEngine } from '../lib/hub/index.js'
import { buildApp } from './app.js'

/** The Redis engine when REDIS_URL is set (ioredis is loaded only then), and how to let go of its client. */
async function redisHubEngine (): Promise<{ engine: HubEngine, quit: () => Promise<void> } | undefined> {
  const nodes = process.env.REDIS_CLUSTER
  const url = process.env.REDIS_URL
  if ((url === undefined || url === '') && (nodes === undefined || nodes === '')) return undefined
  const { Redis, Cluster } = await import('ioredis')
  const { redisEngine } = await import('../lib/redis/index.js')
  const client = nodes !== undefined && nodes !== ''
    ? new Cluster(nodes.split(',').map(node => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) })), { shardedSubscribers: true })
    : new Redis(url as string)
  client.on('error', (err: Error) => console.error(`Redis (${nodes ?? url ?? ''}): ${err.message}`))
  return { engine: redisEngine({ client }), quit: async () => { await client.quit().catch(() => client.disconnect()) } }
}

async function main (): Promise<void> {
  const port = Number(process.env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${process.env.PORT}`)
  const host = process.env.HOST ?? '127.0.0.1'

  const redis = await redisHubEngine()
  const app = await buildApp({
    hubEngine: redis?.engine,
    logger: { level: process.env.LOG_LEVEL ?? 'warn' },
    logFile: process.env.LOG_FILE, // default: a temporary file
    logAppendIntervalMs: 3000, // so that the log tail has something to show
    corsOrigins: process.env.CORS_ORIGINS?.split(',').map(origin => origin.trim()).filter(Boolean)
  })
  // The hub (closed with the app) quits only its own connection; the client is ours to quit, after it.
  if (redis !== undefined) app.addHook('onClose', redis.quit)
  const url = await app.listen({ port, host })
  console.log(`fastify-typed-sse demo: open ${url} in a browser (Ctrl+C stops it)${redis === undefined ? '' : `; chat room on ${process.env.REDIS_CLUSTER ?? process.env.REDIS_URL ?? ''}`}`)

  const stop = (): void => {
    // Clients may hold spare connections that never send a request (browsers'
    // preconnects, fetch after an abort), and Node 20's server.close() waits
    // for those (nodejs/node#63452): after a grace period, cut what is left.
    const force = setTimeout(() => app.server.closeAllConnections(), 1000).unref()
    app.close().then(() => {
      clearTimeout(force)
      process.exitCode = 0
    }, (err: unknown) => {
      console.error(err)
      process.exitCode = 1
    })
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
