// `npm start`: the demo on http://127.0.0.1:3000 (PORT and HOST change it).

import { buildApp } from './app.js'

async function main (): Promise<void> {
  const port = Number(process.env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${process.env.PORT}`)
  const host = process.env.HOST ?? '127.0.0.1'

  const app = await buildApp({
    logger: { level: process.env.LOG_LEVEL ?? 'warn' },
    logFile: process.env.LOG_FILE, // default: a temporary file
    logAppendIntervalMs: 3000, // so that the log tail has something to show
    corsOrigins: process.env.CORS_ORIGINS?.split(',').map(origin => origin.trim()).filter(Boolean)
  })
  const url = await app.listen({ port, host })
  console.log(`fastify-typed-sse demo: open ${url} in a browser (Ctrl+C stops it)`)

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
