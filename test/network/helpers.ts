// Shared by the network fault tests: instances of test/network/instance.ts, the
// typed client recording what it gets (beside test/redis/helpers.ts's eventsource
// recorder), and the check every test ends with: each client got every
// acknowledged event once, in order, and nothing that was never published.

import { join } from 'node:path'
import type { Test } from 'tap'
import { eventStream, hubReset } from '../../lib/client/index.js'
import { Message } from '../redis/message.js'
import { startInstance, type Instance, type Received, type Recorder } from '../redis/helpers.js'

/** Starts test/network/instance.ts on `redisUrl`; stopped on teardown. */
export function startApp (t: Test, redisUrl: string, env: Record<string, string> = {}): Promise<Instance> {
  return startInstance(t, redisUrl, env, join(__dirname, 'instance.ts'))
}

/** What a typed client (`eventStream` of fastify-typed-sse/client) got, like the eventsource `Recorder`. */
export interface TypedRecorder {
  /** `at`: when it arrived (ms since the epoch). */
  readonly messages: Array<Received & { at: number }>
  readonly resets: Array<{ id: string, reason: string }>
  readonly connections: string[]
  /** Set when the stream failed for good. */
  error: unknown
  close: () => void
}

/** The typed client on `path`; `pickBase(attempt)` names the server of each connection. Reconnects like EventSource. */
export function recordTyped (t: Test, path: string, pickBase: (attempt: number) => string): TypedRecorder {
  const controller = new AbortController()
  const recorder: TypedRecorder = { messages: [], resets: [], connections: [], error: undefined, close: () => controller.abort() }
  const fetchVia: typeof fetch = async (input, init) => {
    const base = pickBase(recorder.connections.length)
    recorder.connections.push(base)
    const url = new URL(String(input instanceof Request ? input.url : input))
    return await fetch(base + url.pathname + url.search, init)
  }
  const stream = eventStream('http://instance.invalid' + path, {
    events: { message: Message, reset: hubReset },
    validate: false,
    fetch: fetchVia,
    signal: controller.signal,
    reconnect: { delay: 100, maxDelay: 1000 }
  })
  ;(async () => {
    for await (const item of stream) {
      if (item.event === 'reset') recorder.resets.push({ id: item.id ?? '', reason: item.data.reason })
      else recorder.messages.push({ id: item.id ?? '', n: item.data.n, from: item.data.from, at: Date.now() })
    }
  })().catch((err: unknown) => { if (!controller.signal.aborted) recorder.error = err })
  t.teardown(() => controller.abort())
  return recorder
}

export interface Outcomes {
  /** Numbers `0..next-1` were published. */
  next: number
  /** Numbers whose publish rejected: their outcome is unknown (stored or not). */
  rejected: ReadonlySet<number>
}

/**
 * Checks one client's numbers: strictly increasing (no duplicate, nothing out of
 * order), none that was never published, and every acknowledged number from
 * `from` on present (a rejected one may be there or not). After a reset the
 * count starts again from the next number.
 */
export function checkClient (t: Test, name: string, client: Pick<Recorder, 'messages' | 'resets'>, outcomes: Outcomes, from = 0): void {
  const { order, unknown, missing, count } = clientProblems(client, outcomes, from)
  t.same(order.slice(0, 5), [], `${name}: every event once and in order (${count} events)`)
  t.same(unknown, [], `${name}: nothing that was never published`)
  if (client.resets.length === 0) {
    t.same(missing.slice(0, 10), [], `${name}: every acknowledged event from ${from} to ${outcomes.next - 1} (${missing.length} missing)`)
  }
}

/** What checkClient checks, as lists: out of order or repeated, never published, acknowledged but missing (only without a reset). */
export function clientProblems (client: Pick<Recorder, 'messages' | 'resets'>, outcomes: Outcomes, from = 0): { order: string[], unknown: number[], missing: number[], count: number } {
  const ns = client.messages.map(message => message.n)
  const order: string[] = []
  for (let i = 1; i < ns.length; i++) {
    if (ns[i]! <= ns[i - 1]!) order.push(`${ns[i]} after ${ns[i - 1]} (index ${i})`)
  }
  const unknown = ns.filter(n => n >= outcomes.next)
  const got = new Set(ns)
  const missing: number[] = []
  if (client.resets.length === 0) {
    for (let n = from; n < outcomes.next; n++) {
      if (!got.has(n) && !outcomes.rejected.has(n)) missing.push(n)
    }
  }
  return { order, unknown, missing, count: ns.length }
}

/** Quantiles of the time from publish (`from`, the instance's clock in ms) to arrival, over `messages`. */
export function latencies (messages: ReadonlyArray<Received & { at: number }>, quantiles: number[]): number[] {
  const values = messages.map(message => message.at - Number(message.from)).sort((a, b) => a - b)
  return quantiles.map(q => values.length === 0 ? NaN : values[Math.min(values.length - 1, Math.floor(values.length * q))]!)
}
