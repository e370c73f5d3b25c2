// The README's Prometheus recipe, run as written: its code block is taken from the
// README, loaded as a module, and its metrics scraped from /metrics over a real
// socket while streams open, finish, fail and leave.

import { test, type Test } from 'tap'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { listen } from './helpers/server.js'
import { connect } from './helpers/sse-client.js'
import { waitFor } from './helpers/wait.js'

type Recipe = (app: FastifyInstance, registry: Registry) => void

/** The README's ```ts block that defines sseMetrics, as a module in a directory of its own. */
async function loadRecipe (t: Test): Promise<Recipe> {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8')
  const block = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map(match => match[1]).find(code => code.includes('export function sseMetrics'))
  if (block === undefined) throw new Error('the README has no block that exports sseMetrics')
  const dir = join(__dirname, '.prometheus-recipe')
  mkdirSync(dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'recipe.ts')
  writeFileSync(file, block)
  const loaded = await import(file) as { sseMetrics: Recipe }
  return loaded.sseMetrics
}

/** A metric's value from the Prometheus text format, or undefined. */
function value (text: string, series: string): number | undefined {
  const line = text.split('\n').find(line => line.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

test('the README\'s prom-client recipe exports open streams, end reasons and counters at /metrics', async (t) => {
  const sseMetrics = await loadRecipe(t)
  const registry = new Registry()
  const { app, url } = await listen((app) => {
    sseMetrics(app, registry)
    app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
    app.get('/finishes', async (_request, reply) => reply.sseStream([{ data: 'one' }, { data: 'two' }]))
    app.get('/fails', async (_request, reply) => reply.sseStream(async function * () {
      yield { data: 'one' }
      throw new Error('boom')
    }))
    app.get('/waits', async (_request, reply) => reply.sseStream(async function * ({ signal }) {
      yield { data: 'waiting' }
      await once(signal, 'abort')
    }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  await (await fetch(`${url}/finishes`)).text()
  await (await fetch(`${url}/finishes`)).text()
  await (await fetch(`${url}/fails`)).text()
  const left = await connect(`${url}/waits`)
  await waitFor(() => left.events.length === 1, 5000, 'the first event')
  left.leave()
  const staying = await connect(`${url}/waits`)
  t.teardown(() => staying.leave())
  await waitFor(() => staying.events.length === 1 && app.sseStats().ended.clientGone === 1, 5000, 'one stream gone, one open')

  const response = await fetch(`${url}/metrics`)
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = await response.text()
  t.equal(value(text, 'sse_streams_open'), 1, 'one stream open')
  t.equal(value(text, 'sse_streams_opened_total'), 5)
  t.equal(value(text, 'sse_streams_ended_total{reason="finished"}'), 2)
  t.equal(value(text, 'sse_streams_ended_total{reason="failed"}'), 1)
  t.equal(value(text, 'sse_streams_ended_total{reason="clientGone"}'), 1)
  t.equal(value(text, 'sse_streams_ended_total{reason="stalled"}'), 0)
  t.equal(value(text, 'sse_events_total'), (2 + 1) * 2 + 2 + 1 + 1, 'every event, the end markers and the failure event too')
  t.equal(value(text, 'sse_bytes_total'), app.sseStats().bytes)
  t.equal(value(text, 'sse_streams_rejected_total'), 0)
  t.equal(value(text, 'sse_stream_duration_seconds_count{reason="finished"}'), 2, 'the durations come from the diagnostics channels')
  t.equal(value(text, 'sse_stream_duration_seconds_count{reason="clientGone"}'), 1)
})
