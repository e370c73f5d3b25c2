// Shared by the Redis hub tests: app instances as child processes (test/redis/instance.ts)
// and an `eventsource` client that records what it receives, across reconnects.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { EventSource, type FetchLike } from 'eventsource'
import type { Test } from 'tap'
import { Value } from '@sinclair/typebox/value'
import { eventStream, hubReset } from '../../lib/client/index.js'
import { Message } from './message.js'

export interface Instance {
  readonly url: string
  readonly pid: number
  /** SIGTERM (a clean close) and waits for the exit code. */
  stop: () => Promise<number | null>
  /** SIGKILL: the instance dies without closing anything. */
  kill: () => Promise<void>
  /** What the instance wrote to stderr. */
  stderr: () => string
}

const ROOT = join(__dirname, '..', '..')
/** Each app's bundle, built once per test process. */
const bundles = new Map<string, string>()

/**
 * An app (instance.ts by default) and the project's sources as one JavaScript file,
 * built once per test process: an instance then starts in about a second instead of
 * several (tsx compiling every module again in each child, on a busy machine).
 */
async function instanceBundle (entry: string): Promise<string> {
  const built = bundles.get(entry)
  if (built !== undefined) return built
  const { build } = await import('esbuild')
  const dir = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-instance-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const outfile = join(dir, 'instance.cjs')
  await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'cjs', packages: 'external', logLevel: 'error' })
  bundles.set(entry, outfile)
  return outfile
}

/** Starts test/redis/instance.ts (or the app `entry`) on a free port; stopped on teardown. */
export async function startInstance (t: Test, redisUrl: string, env: Record<string, string> = {}, entry = join(__dirname, 'instance.ts')): Promise<Instance> {
  const child = spawn(process.execPath, ['--expose-gc', await instanceBundle(entry)], {
    // The bundle lives in a temp dir: its dependencies resolve from the project's node_modules.
    env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules'), REDIS_URL: redisUrl, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const running = (): boolean => child.exitCode === null && child.signalCode === null
  const stopWith = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (running()) {
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    return child.exitCode
  }
  t.teardown(() => stopWith('SIGTERM'))

  const lines = createInterface({ input: child.stdout })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the instance did not listen within 20 s: ${stderr}`)), 20_000)
    lines.once('line', (line) => {
      clearTimeout(timer)
      resolve((JSON.parse(line) as { url: string }).url)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the instance exited with ${code}: ${stderr}`))
    })
  })
  return {
    url,
    pid: child.pid as number,
    stop: () => stopWith('SIGTERM'),
    kill: async () => { await stopWith('SIGKILL') },
    stderr: () => stderr
  }
}

export interface Received {
  id: string
  n: number
  from: string
}

export interface Recorder {
  readonly source: EventSource
  readonly messages: Received[]
  readonly resets: Array<{ id: string, reason: string }>
  /** The base URL of each connection the client opened, in order. */
  readonly connections: string[]
  close: () => void
}

/**
 * An EventSource on `path` that records messages and resets. `pickBase(attempt)`
 * names the server of each connection attempt (0 for the first), so that a test can
 * move the client from one instance to another when it reconnects.
 */
export function record (t: Test, path: string, pickBase: (attempt: number) => string): Recorder {
  const connections: string[] = []
  const fetchVia: FetchLike = async (input, init) => {
    const base = pickBase(connections.length)
    connections.push(base)
    const url = new URL(String(input))
    return await fetch(base + url.pathname + url.search, init)
  }
  // The URL's origin is replaced by pickBase; it only has to parse.
  const source = new EventSource('http://instance.invalid' + path, { fetch: fetchVia })
  const recorder: Recorder = {
    source,
    messages: [],
    resets: [],
    connections,
    close: () => source.close()
  }
  source.addEventListener('message', (event) => {
    const data = JSON.parse(event.data) as { n: number, from: string }
    recorder.messages.push({ id: event.lastEventId, n: data.n, from: data.from })
  })
  source.addEventListener('reset', (event) => {
    recorder.resets.push({ id: event.lastEventId, reason: (JSON.parse(event.data) as { reason: string }).reason })
  })
  source.addEventListener('error', () => {}) // reconnects are expected
  t.teardown(() => source.close())
  return recorder
}

/** Posts JSON (or nothing) and returns the status and parsed body. */
export async function post (url: string, body?: unknown): Promise<{ status: number, body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  })
  return { status: response.status, body: await response.json() }
}

/** `count` numbers from `start`: the n of every message a client should have. */
export function range (start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i)
}

/** Where a message sequence first breaks (gap or duplicate), for a readable failure. */
export function firstBreak (ns: number[], start: number): string {
  for (let i = 0; i < ns.length; i++) {
    if (ns[i] !== start + i) return `at index ${i}: expected ${start + i}, got ${ns[i]} (around: ${ns.slice(Math.max(0, i - 3), i + 4).join(',')})`
  }
  return 'none'
}

/**
 * The typed client (`eventStream`, reconnecting with Last-Event-ID) on `path`, recording
 * like `record()`: messages, resets and the base URL of each connection.
 */
export function recordTyped (t: Test, path: string, pickBase: (attempt: number) => string): Omit<Recorder, 'source'> {
  const connections: string[] = []
  const controller = new AbortController()
  const recorder = { messages: [] as Received[], resets: [] as Array<{ id: string, reason: string }>, connections, close: () => controller.abort() }
  const stream = eventStream('http://instance.invalid' + path, {
    events: { message: Message, reset: hubReset },
    validate: Value.Check,
    signal: controller.signal,
    reconnect: { retries: Infinity },
    fetch: async (input, init) => {
      const base = pickBase(connections.length)
      connections.push(base)
      const url = new URL(input)
      return await fetch(base + url.pathname + url.search, init)
    }
  })
  ;(async () => {
    for await (const item of stream) {
      if (item.event === 'message') recorder.messages.push({ id: item.id ?? '', n: item.data.n, from: item.data.from })
      else recorder.resets.push({ id: item.id ?? '', reason: item.data.reason })
    }
  })().catch(() => {}) // ends with the abort
  t.teardown(() => controller.abort())
  return recorder
}
