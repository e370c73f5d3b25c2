// An app run as a child process by the Redis, network and soak tests: it listens on
// a free port, tells its parent the URL as one JSON line on stdout, and closes
// gracefully on SIGTERM or SIGINT (connections forced shut after a second).

import type { FastifyInstance } from 'fastify'

export async function serveAsChild (app: FastifyInstance, beforeClose: () => void = () => {}): Promise<void> {
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  process.stdout.write(JSON.stringify({ url }) + '\n')
  const stop = (): void => {
    beforeClose()
    const force = setTimeout(() => app.server.closeAllConnections(), 1000).unref()
    app.close().then(() => {
      clearTimeout(force)
      process.exit(0)
    }, exitOnError)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

/** Runs the child's main; any error is printed and ends the process. */
export function runChild (main: () => Promise<void>): void {
  main().catch(exitOnError)
}

function exitOnError (err: unknown): never {
  console.error(err)
  process.exit(1)
}
