// The demo app (example/app.ts) listening on 127.0.0.1 with pacing fast enough for tests.

import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp, type DemoOptions, type Http2DemoApp } from '../../example/app.js'
import { useFreshConnections } from './fetch.js'

/** Pacing that keeps each test file well under its time budget. */
export const FAST: DemoOptions = {
  clockIntervalMs: 100,
  tickerIntervalMs: 40,
  counterIntervalMs: 50,
  tokenDelayMs: 2,
  retryMs: 200
}

export interface RunningDemo {
  app: FastifyInstance
  url: string
}

/** Builds the demo with `options` over FAST, listens on a free loopback port, closes it on teardown. */
export async function startDemo (t: Test, options: DemoOptions & { http2?: false } = {}, beforeListen?: (app: FastifyInstance) => void): Promise<RunningDemo> {
  const app = await buildApp({ ...FAST, ...options, http2: false })
  beforeListen?.(app)
  t.teardown(() => app.close())
  useFreshConnections(t) // torn down before the app: see helpers/fetch.ts
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

/** The same over HTTP/2 without TLS (h2c). */
export async function startHttp2Demo (t: Test, options: DemoOptions = {}): Promise<{ app: Http2DemoApp, url: string }> {
  const app = await buildApp({ ...FAST, ...options, http2: true })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}
