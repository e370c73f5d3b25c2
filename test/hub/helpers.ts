// Shared by the hub tests: an app with the plugin and a hub, one stream route per
// topic, a way to drop every open stream from the server side (as a deploy or a
// proxy would), and what each stream request carried as Last-Event-ID.

import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { Test } from 'tap'
import fastifyTypedSse from '../../index.js'
import { createHub, type Hub, type HubEngine, type SubscribeOptions } from '../../lib/hub/index.js'
import { isPushable, kPushable, type PushSink } from '../../lib/push.js'
import { useFreshConnections } from '../helpers/fetch.js'

export const Message = Type.Object({ n: Type.Integer({ minimum: 1 }), text: Type.String() })
export const Typing = Type.Object({ from: Type.String() })
export const events = { message: Message, typing: Typing }
export type TestHub = Hub<typeof events>

export interface HubApp {
  app: FastifyInstance
  hub: TestHub
  url: string
  /** The Last-Event-ID header of every stream request, in order (undefined when absent). */
  lastEventIds: Array<string | undefined>
  /** Subscriptions whose source finalized (the route wraps each in a generator that counts). */
  finalized: { count: number }
  /** Ends every open stream from the server side, by destroying its response; returns how many. */
  drop (): number
}

export interface HubAppOptions {
  engine?: HubEngine
  /** The plugin's retry: how soon clients reconnect. Default 50 ms. */
  retry?: number
  /** Options of every subscription, besides the query's. */
  subscribe?: SubscribeOptions
}

/**
 * Streams topic `:topic` at GET /topics/:topic/events. Query: `from`, `onGap`, and
 * `after` (a resume id used only when the request has no Last-Event-ID, the way a
 * page that opens a new EventSource passes the id it had).
 */
export async function startHubApp (t: Test, options: HubAppOptions = {}): Promise<HubApp> {
  const hub = createHub({ events, ...(options.engine === undefined ? {} : { engine: options.engine }) })
  const app = Fastify({ logger: false, pluginTimeout: 60_000 }) // a busy machine may load the schema compilers slowly
  await app.register(fastifyTypedSse, { retry: options.retry ?? 50, heartbeatInterval: 0 })
  await app.register(hub.plugin)
  const open = new Set<ServerResponse>()
  const lastEventIds: Array<string | undefined> = []
  const finalized = { count: 0 }

  app.get<{ Params: { topic: string }, Querystring: { from?: 'now' | 'earliest', onGap?: 'reset' | 'end', after?: string } }>(
    '/topics/:topic/events', { schema: { sse: hub.events } }, async (request, reply) => {
      const header = request.headers['last-event-id'] as string | undefined
      lastEventIds.push(header)
      const { from, onGap, after } = request.query
      const source = hub.subscribe(request.params.topic, {
        ...options.subscribe,
        ...(from === undefined ? {} : { from }),
        ...(onGap === undefined ? {} : { onGap }),
        ...(header === undefined && after !== undefined ? { lastEventId: after } : {})
      })
      const raw = reply.raw as ServerResponse
      open.add(raw)
      raw.once('close', () => open.delete(raw))
      // A source wrapping a subscription ends only when the subscription is cut: no end marker.
      return reply.sseStream((context) => counted(source(context), finalized), { endMarker: false })
    })

  // A blank page on the same origin, for the browser tests.
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send('<!doctype html><title>hub</title>'))

  t.teardown(() => app.close())
  useFreshConnections(t) // torn down before the app
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    hub,
    url,
    lastEventIds,
    finalized,
    drop () {
      const count = open.size
      for (const raw of open) raw.destroy()
      open.clear()
      return count
    }
  }
}

/**
 * The subscription, counted in `finalized` once it ends: its return() was called (the
 * stream's teardown) or it reported done. Lighter than a generator around it, so that
 * the memory measured per subscriber stays the hub's; it hands the stream's sink on,
 * so that the subscription is pushed to as it is without the wrapper.
 */
function counted<T> (iterable: AsyncIterable<T>, finalized: { count: number }): AsyncIterable<T> {
  const iterator = iterable[Symbol.asyncIterator]()
  let ended = false
  const end = (): void => {
    if (ended) return
    ended = true
    finalized.count++
  }
  const wrapper: AsyncIterator<T> & Partial<Record<typeof kPushable, (sink: PushSink) => unknown>> = {
    next: async () => {
      const result = await iterator.next()
      if (result.done === true) end()
      return result
    },
    return: async (value?: unknown) => {
      end()
      return await (iterator.return?.(value) ?? { value: undefined, done: true as const })
    }
  }
  if (isPushable(iterator)) wrapper[kPushable] = (sink) => iterator[kPushable](sink)
  return { [Symbol.asyncIterator]: () => wrapper }
}

/** `n` and the event's id, from a received `message`. */
export function numbered (event: { data: string, lastEventId?: string, id?: string }): number {
  return (JSON.parse(event.data) as { n: number }).n
}

/** Whether `list` is exactly first, first + 1, ..., last. */
export function isRun (list: readonly number[], first: number, last: number): boolean {
  if (list.length !== last - first + 1) return false
  return list.every((n, i) => n === first + i)
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** A stream client that reads nothing until `read()` is called, then parses every event. */
export async function stalledClient (url: string): Promise<{ response: IncomingMessage, events: EventSourceMessage[], read (): void, leave (): void }> {
  const request = http.get(url, { agent: false })
  const response = await new Promise<IncomingMessage>((resolve, reject) => request.once('response', resolve).once('error', reject))
  request.on('error', () => {})
  response.pause()
  const events: EventSourceMessage[] = []
  return {
    response,
    events,
    read () {
      const parser = createParser({ onEvent: (event) => events.push(event) })
      // Decoded here, not with setEncoding(): bytes that arrived while paused are already buffered.
      const decoder = new TextDecoder()
      response.on('data', (chunk: Buffer) => parser.feed(decoder.decode(chunk, { stream: true })))
      response.resume()
    },
    leave: () => request.destroy()
  }
}
