// The hub: publish checks and serializes an event once and hands it to the engine;
// subscribe makes a cursor over the topic's window (topic.ts, cursor.ts). One Topic
// per topic with subscribers on this instance, shared by all of them.

import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { SsePosition, SseSourceContext, SseStatic } from '../../types/index.js'
import { encodeItem } from '../encode.js'
import { FST_SSE_HUB_UNAVAILABLE, FST_SSE_INVALID_EVENT, FST_SSE_INVALID_OPTION, FST_SSE_INVALID_SCHEMA, FST_SSE_INVALID_TOPIC } from '../errors.js'
import { compileEventSchemas, type EventValidators } from '../schemas.js'
import { endless, returnsOnEnd } from '../source-context.js'
import { InvalidItem } from '../wire.js'
import { Cursor, type CursorSettings } from './cursor.js'
import type { HubEngine } from './engine.js'
import { memoryEngine } from './memory.js'
import { Topic } from './topic.js'

/** The data of `reset`: why the subscription could not resume where the client asked. */
export const HubReset = Type.Object({
  reason: Type.Union([Type.Literal('unknown-id'), Type.Literal('history-lost')])
})
export type HubResetData = Static<typeof HubReset>

/** `schema.sse` of a hub: event names mapped to their schemas; `reset` is the hub's own. */
export type HubEventSchemas = Record<string, object> & { reset?: never }

export interface HubOptions<Events extends HubEventSchemas> {
  /** Event names mapped to schemas, exactly like a route's `schema.sse`. */
  events: Events
  /** Where the history lives and how instances hear of new events. Default `memoryEngine()`. */
  engine?: HubEngine
}

export interface SubscribeOptions {
  /** Where a subscription without a resume id starts: `'now'` (default) or `'earliest'` event held. */
  from?: 'now' | 'earliest'
  /** Resume after this id; overrides the request's Last-Event-ID. */
  lastEventId?: string
  /** A resume point that is gone: `'reset'` (default) sends `reset` and goes on live; `'end'` sends it and ends. */
  onGap?: 'reset' | 'end'
}

/** The route schema of a hub's streams: its events plus `reset`. */
export type HubEvents<Events> = Events & { reset: typeof HubReset }

type EventNames<Events> = Exclude<keyof Events & string, 'reset'>

/** What `publish` takes: a declared event; no `id` (the engine gives it) and no `retry`. */
export type HubPublishItem<Events> = {
  [Name in EventNames<Events>]: Name extends 'message'
    ? { event?: 'message', data: SseStatic<Events[Name]>, id?: never, retry?: never }
    : { event: Name, data: SseStatic<Events[Name]>, id?: never, retry?: never }
}[EventNames<Events>]

/**
 * What a subscription's client receives: each event with its id, `reset`, and the
 * position item. A stream's route must declare all of them (`schema.sse: hub.events`).
 * At run time the items are already-framed events (the plugin's `FramedEvent`,
 * `{ text, id }`), which the stream writes as they are: code that iterates a
 * subscription itself gets those, not these objects.
 */
export type HubStreamItem<Events> =
  | {
    [Name in EventNames<Events>]: Name extends 'message'
      ? { event?: 'message', data: SseStatic<Events[Name]>, id: string }
      : { event: Name, data: SseStatic<Events[Name]>, id: string }
  }[EventNames<Events>]
  | { event: 'reset', data: HubResetData, id: string }
  | SsePosition

/** A source for `reply.sseStream`: it is handed the stream's signal and Last-Event-ID. */
export type HubSubscription<Events> = (context: SseSourceContext) => AsyncIterable<HubStreamItem<Events>>

export interface Hub<Events extends HubEventSchemas> {
  /** The route schema to declare: `schema: { sse: hub.events }`, or spread with the route's own events. */
  readonly events: HubEvents<Events>
  /** Checks and serializes the item once, stores it; resolves with its id. */
  publish (topic: string, item: HubPublishItem<Events>): Promise<string>
  /** A source for `reply.sseStream`: position or replay, then live; `reset` where a resume point is gone. */
  subscribe (topic: string, options?: SubscribeOptions): HubSubscription<Events>
  /** Registered on an app, closes the hub when the app closes (after its streams ended). */
  readonly plugin: FastifyPluginAsync
  /** Ends every subscription, refuses new ones, waits (bounded) for publishes in flight, closes the engine. */
  close (): Promise<void>
  /** Whether the hub can publish and its live subscriptions are confirmed; cheap enough for a readiness probe. */
  health (): HubHealth
}

/** `hub.health()`: `ready` is `publish && live` on an open hub. */
export interface HubHealth {
  readonly ready: boolean
  readonly publish: boolean
  readonly live: boolean
  readonly reasons: readonly string[]
}

/** Frames kept per topic for the cursors reading it live; one that falls further behind reads the history. */
const WINDOW_SIZE = 256
/** How often a quiet topic checks that it missed no event (a live message lost on the way). */
const TAIL_CHECK_MS = 2000
const MAX_TOPIC_LENGTH = 256
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/** How long close() waits for publishes in flight. */
const CLOSE_WAIT_MS = 2000
const PUBLISH_KEYS = new Set(['event', 'data'])
const SUBSCRIBE_KEYS = new Set(['from', 'lastEventId', 'onGap'])
const HUB_KEYS = new Set(['events', 'engine'])
const ENDED: AsyncIterable<never> = {
  [Symbol.asyncIterator]: () => ({ next: async () => ({ value: undefined, done: true }) })
}

export function createHub<Events extends HubEventSchemas> (options: HubOptions<Events>): Hub<Events> {
  if (typeof options !== 'object' || options === null) throw new FST_SSE_INVALID_OPTION('createHub() needs { events, engine? }')
  for (const key of Object.keys(options)) {
    if (!HUB_KEYS.has(key)) throw new FST_SSE_INVALID_OPTION(`createHub() has no option ${JSON.stringify(key)}`)
  }
  const { events } = options
  if (typeof events === 'object' && events !== null && Object.hasOwn(events, 'reset')) {
    throw new FST_SSE_INVALID_SCHEMA('createHub()', 'event name "reset" is reserved (the hub sends it when a subscription cannot resume)')
  }
  const validators = compileEventSchemas(events, 'createHub()')
  const engine = options.engine ?? memoryEngine()
  if (!isEngine(engine)) throw new FST_SSE_INVALID_OPTION('createHub() engine must implement append, read, newest, listen and close')
  return new HubImpl(events, validators, engine)
}

class HubImpl<Events extends HubEventSchemas> implements Hub<Events> {
  readonly events: HubEvents<Events>
  readonly plugin: FastifyPluginAsync
  private readonly validators: EventValidators
  private readonly engine: HubEngine
  private readonly topics = new Map<string, Topic>()
  private tailTimer: NodeJS.Timeout | undefined
  private readonly inFlight = new Set<Promise<unknown>>()
  private closing: Promise<void> | undefined
  /** Apps that registered the plugin and have not closed yet. */
  private apps = 0

  constructor (events: Events, validators: EventValidators, engine: HubEngine) {
    this.events = { ...events, reset: HubReset }
    this.validators = validators
    this.engine = engine
    this.release = this.release.bind(this)
    this.plugin = fp(async (fastify) => {
      this.apps++
      // onClose runs after preClose, where the plugin ends every stream (and so every subscription).
      fastify.addHook('onClose', async () => {
        if (--this.apps === 0) await this.close()
      })
    }, { fastify: '5.x', name: 'fastify-typed-sse-hub' })
  }

  publish (topic: string, item: HubPublishItem<Events>): Promise<string> {
    try {
      if (this.closing !== undefined) throw new FST_SSE_HUB_UNAVAILABLE('the hub is closed')
      checkTopic(topic)
      // Checked and serialized here, once, whatever the number of subscribers.
      const body = this.serialize(item)
      const appended = this.engine.append(topic, body)
      this.inFlight.add(appended)
      appended.then(() => this.inFlight.delete(appended), () => this.inFlight.delete(appended))
      return appended
    } catch (err) {
      return Promise.reject(err)
    }
  }

  subscribe (topic: string, options: SubscribeOptions = {}): HubSubscription<Events> {
    if (this.closing !== undefined) throw new FST_SSE_HUB_UNAVAILABLE('the hub is closed')
    checkTopic(topic)
    const { from, onGap, lastEventId } = subscribeOptions(options)
    const source = (context: SseSourceContext): AsyncIterable<unknown> => {
      if (this.closing !== undefined) return ENDED // the hub closed after subscribe() was called
      const settings: CursorSettings = { from, onGap, resumeId: lastEventId ?? context.lastEventId }
      // The plugin's stream ends the cursor with return(); anyone else may end it with the signal.
      const signal = returnsOnEnd(context) ? undefined : context.signal
      return new Cursor(this.topicOf(topic), this.engine, settings, this.release, signal)
    }
    // Every end of a subscription is a cut (no end marker). Declared as the items the client receives; see HubStreamItem.
    return endless(source) as unknown as HubSubscription<Events>
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  health (): HubHealth {
    if (this.closing !== undefined) return { ready: false, publish: false, live: false, reasons: ['the hub is closed'] }
    const engine = this.engine.health?.()
    if (engine === undefined) return { ready: true, publish: true, live: true, reasons: [] }
    return { ready: engine.publish && engine.live, publish: engine.publish, live: engine.live, reasons: engine.reasons }
  }

  private async shutdown (): Promise<void> {
    for (const topic of this.topics.values()) topic.stop()
    this.topics.clear()
    this.stopTailChecks()
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled(this.inFlight),
        new Promise(resolve => { timer = setTimeout(resolve, CLOSE_WAIT_MS) })
      ])
      clearTimeout(timer)
    }
    await this.engine.close()
  }

  private serialize (item: unknown): string {
    if (typeof item !== 'object' || item === null) throw new FST_SSE_INVALID_EVENT('a hub event is { event?, data }')
    for (const key of Object.keys(item)) {
      if (!PUBLISH_KEYS.has(key)) {
        const why = key === 'id' ? 'the engine gives every event its id' : 'a hub event is { event?, data }'
        throw new FST_SSE_INVALID_EVENT(`${JSON.stringify(key)} is not allowed in a published event (${why})`)
      }
    }
    let framed: string
    try {
      framed = encodeItem(item, this.validators)
    } catch (err) {
      if (!(err instanceof InvalidItem)) throw err
      const error = new FST_SSE_INVALID_EVENT(err.message)
      Object.defineProperty(error, 'errors', { value: err.details, enumerable: true })
      throw error
    }
    // The body: the event's fields without the blank line that ends it (engine.ts).
    return framed.slice(0, -1)
  }

  private topicOf (name: string): Topic {
    let topic = this.topics.get(name)
    if (topic === undefined) {
      const created = new Topic(name, this.engine, WINDOW_SIZE)
      // One timer for all of the hub's topics, running while it has any.
      this.tailTimer ??= setInterval(checkTails, TAIL_CHECK_MS, this.topics).unref()
      // A topic that cannot learn its position is forgotten, so the next subscription tries again.
      created.ready.catch(() => { if (this.topics.get(name) === created) this.topics.delete(name) })
      this.topics.set(name, created)
      topic = created
    }
    return topic
  }

  /** A cursor ended: its topic stops listening once nobody reads it. */
  private release (cursor: Cursor, topic: Topic): void {
    topic.readers.delete(cursor)
    if (topic.readers.size > 0) return
    topic.stop()
    if (this.topics.get(topic.name) === topic) this.topics.delete(topic.name)
    if (this.topics.size === 0) this.stopTailChecks()
  }

  private stopTailChecks (): void {
    clearInterval(this.tailTimer)
    this.tailTimer = undefined
  }
}

function checkTails (topics: Map<string, Topic>): void {
  for (const topic of topics.values()) topic.checkTail()
}

function checkTopic (topic: unknown): void {
  if (typeof topic !== 'string' || topic === '') throw new FST_SSE_INVALID_TOPIC('a topic must be a non-empty string')
  if (topic.length > MAX_TOPIC_LENGTH) throw new FST_SSE_INVALID_TOPIC(`a topic has at most ${MAX_TOPIC_LENGTH} characters, got ${topic.length}`)
  if (CONTROL.test(topic)) throw new FST_SSE_INVALID_TOPIC(`${JSON.stringify(topic)} contains a control character`)
  if (!topic.isWellFormed()) throw new FST_SSE_INVALID_TOPIC(`${JSON.stringify(topic)} contains a lone surrogate`)
}

function subscribeOptions (options: SubscribeOptions): Required<Omit<SubscribeOptions, 'lastEventId'>> & Pick<SubscribeOptions, 'lastEventId'> {
  if (typeof options !== 'object' || options === null) throw new FST_SSE_INVALID_OPTION('hub.subscribe() options must be an object')
  for (const key of Object.keys(options)) {
    if (!SUBSCRIBE_KEYS.has(key)) throw new FST_SSE_INVALID_OPTION(`hub.subscribe() has no option ${JSON.stringify(key)}`)
  }
  const { from = 'now', onGap = 'reset', lastEventId } = options
  if (from !== 'now' && from !== 'earliest') throw new FST_SSE_INVALID_OPTION(`hub.subscribe() from must be 'now' or 'earliest', got ${JSON.stringify(from)}`)
  if (onGap !== 'reset' && onGap !== 'end') throw new FST_SSE_INVALID_OPTION(`hub.subscribe() onGap must be 'reset' or 'end', got ${JSON.stringify(onGap)}`)
  if (lastEventId !== undefined && typeof lastEventId !== 'string') throw new FST_SSE_INVALID_OPTION('hub.subscribe() lastEventId must be a string')
  return { from, onGap, lastEventId }
}

function isEngine (engine: unknown): engine is HubEngine {
  const candidate = engine as Partial<Record<keyof HubEngine, unknown>> | null
  return typeof candidate === 'object' && candidate !== null &&
    typeof candidate.append === 'function' && typeof candidate.read === 'function' &&
    typeof candidate.newest === 'function' && typeof candidate.listen === 'function' &&
    typeof candidate.close === 'function'
}
