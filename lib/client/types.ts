// The client's public types: what an event's `data` is, read from the schema the
// route declares, and the options of eventStream and typedEventSource.
//
// TypeBox 0.34 and Standard Schema payloads are read structurally (the schema's
// `static` member, Standard Schema's `~standard.types.output`); typebox 1.x has no
// such member, so its own `Static` is used, as a type only (nothing of it is loaded),
// through types/typebox1.d.ts, where a project without typebox 1.x still compiles.

import type { TypeBox1Static } from '../../types/typebox1.js'

/** The payload type of one event's schema: TypeBox 0.34, typebox 1.x or Standard Schema v1. */
export type SseClientStatic<Schema> =
  Schema extends { readonly '~standard': { readonly types?: infer Types } }
    ? NonNullable<Types> extends { readonly output: infer Output } ? Output : unknown
    : Schema extends { static: unknown }
      ? (Schema & { params: [] })['static']
      : Schema extends { readonly '~kind': string } | { readonly '~unsafe': unknown }
        ? TypeBox1Static<Schema>
        : unknown

/** Event names mapped to the schemas of their `data`: the route's `schema.sse`. */
export type SseClientEvents = Readonly<Record<string, object>>

/** The data of the hub's `reset` event. */
export interface SseResetData {
  reason: 'unknown-id' | 'history-lost'
}

/** One event as the client yields it: `event` is `'message'` for an unnamed event; `id` the event's own id. */
export interface SseClientEvent<Name extends string = string, Data = unknown> {
  event: Name
  data: Data
  id: string | undefined
}

/** An event of a stream read without `events`: its data is the text as it arrived. */
export type SseUntypedEvent = SseClientEvent<string, string>

/** The events a stream with these schemas yields: one per declared name (the hub's `reset` among them when declared). */
export type SseClientItem<Events extends SseClientEvents> =
  { [Name in keyof Events & string]: SseClientEvent<Name, SseClientStatic<Events[Name]>> }[keyof Events & string]

/** The data of one event name. */
export type SseClientData<Events extends SseClientEvents, Name extends string> =
  Extract<SseClientItem<Events>, { event: Name }>['data']

/**
 * Checks a TypeBox or JSON schema's payload: `Value.Check` from `@sinclair/typebox/value`
 * or `typebox/value`, or any `(schema, data) => boolean` (an Ajv `validate`, say).
 */

export type SseSchemaCheck = (schema: any, data: unknown) => boolean

/** How the client reconnects. */
export interface SseReconnectOptions {
  /** How many failed attempts in a row before the last error is thrown. Default `Infinity`. */
  retries?: number
  /** The wait before reconnecting until the server sends `retry:` (ms). Default `1000`. */
  delay?: number
  /** The longest wait, however many attempts failed (ms); a longer server `retry` still wins. Default `30000`. */
  maxDelay?: number
}

/** The options of eventStream; `validate` is required where some of `events` need a checker (see SseValidateOption). */
export type EventStreamOptions<Events extends SseClientEvents | undefined = SseClientEvents | undefined> =
  EventStreamRequestOptions<Events> & SseValidateOption<Events>

export interface EventStreamRequestOptions<Events extends SseClientEvents | undefined = SseClientEvents | undefined> {
  /** The route's events: how to decode each (text for string schemas, JSON otherwise), what to check, the items' types. */
  events?: Events
  /** Default `'GET'`. */
  method?: string
  headers?: RequestInit['headers']
  /** A plain object or array is sent as JSON; anything else as `fetch` takes it. */
  body?: unknown
  credentials?: RequestInit['credentials']
  /** Default: the global `fetch`. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>
  /** Aborting it cancels the request at once; the iterator then throws the signal's reason. */
  signal?: AbortSignal
  /** An unnamed event whose data is exactly this ends the stream, e.g. `'[DONE]'`. */
  done?: string
  /** Default: on for GET, off for other methods (re-sending a POST could run it twice). */
  reconnect?: boolean | SseReconnectOptions
  /** The id to resume after, e.g. one saved across page loads. */
  lastEventId?: string
  /**
   * A response that sends nothing (not even the server's heartbeat) for this long is
   * taken as cut: a silent network path never ends on its own. Default `45000`, three of
   * the plugin's default heartbeats; `0` waits forever.
   */
  heartbeatTimeout?: number
}

/** A schema that validates itself: Standard Schema v1 (Zod, Valibot, ArkType, `hubReset`). */
interface SelfValidatingSchema {
  readonly '~standard': { readonly validate: (value: unknown) => unknown }
}

/** The names in `events` whose schemas carry no validator of their own (TypeBox, JSON Schema). */
export type SseUncheckedEventNames<Events> =
  { [Name in keyof Events & string]: Events[Name] extends SelfValidatingSchema ? never : Name }[keyof Events & string]

/**
 * `validate`: check each event against its schema. Standard Schema validates itself
 * (`true`, the default); TypeBox and JSON schemas carry no validator, so where `events`
 * holds one, `validate` is required: a checker (`Value.Check`) or `false` (nothing is
 * checked and no validator is loaded).
 */
export type SseValidateOption<Events> = [SseUncheckedEventNames<Events>] extends [never]
  ? { validate?: boolean | SseSchemaCheck }
  : SseValidateRequired<ValidateFix, SseUncheckedEventNames<Events>>

/** What a compile error names when `validate` is missing. */
type ValidateFix = 'TypeBox and JSON schemas need validate: Value.Check (from typebox/value or @sinclair/typebox/value) or validate: false'

/**
 * `validate` for events whose schemas carry no validator (`Names`). A call that leaves
 * it out fails to compile with this type's name in its message: the fix first (long
 * types are cut short in messages), then the events that need it.
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- the parameters are for the compiler's message
export interface SseValidateRequired<Fix extends string, Names extends string> {
  /** A checker, `(schema, data) => boolean` (`Value.Check`), or `false` to check nothing. */
  validate: SseSchemaCheck | false
}

/** What eventStream returns: iterate it once with `for await`. */
export interface EventStream<Item> extends AsyncIterable<Item> {
  /** The last event id seen (events' ids and position items); `''` before any. */
  readonly lastEventId: string
}

/** The part of a native EventSource that typedEventSource uses. */
export interface EventSourceLike {
  addEventListener (type: string, listener: (event: { data: string, lastEventId: string }) => void): void
  removeEventListener (type: string, listener: (event: { data: string, lastEventId: string }) => void): void
  close (): void
}

/** The options of typedEventSource; `validate` as for eventStream (required where some of `events` need a checker). */
export type TypedEventSourceOptions<Events extends SseClientEvents = SseClientEvents> = {
  /** Gets each event that fails (SseValidationError) and the server's failure event (SseStreamError). Default: thrown from the listener. */
  onError?: (error: Error) => void
} & SseValidateOption<Events>

/** typedEventSource's options argument: optional unless `events` needs `validate`. */
export type TypedEventSourceOptionsArgument<Events extends SseClientEvents> = [SseUncheckedEventNames<Events>] extends [never]
  ? [options?: TypedEventSourceOptions<Events>]
  : [options: TypedEventSourceOptions<Events>]

export interface TypedEventSource<Events extends SseClientEvents, Source extends EventSourceLike = EventSourceLike> {
  /** Calls `listener` with each `name` event's decoded, checked data; returns the function that stops it. */
  on<Name extends SseClientItem<Events>['event']> (
    name: Name,
    listener: (data: SseClientData<Events, Name>, event: { data: string, lastEventId: string }) => void
  ): () => void
  /** The EventSource it wraps. */
  readonly source: Source
}
