// The public types of fastify-typed-sse: options, event items, and the inference
// that turns a route's `schema.sse` into the events `reply.sseStream` accepts.
//
// Payload types are read structurally where a schema carries them: TypeBox 0.34's
// `static` member (the way its own `Static<T>` does; 0.34 ships separate typings
// for ESM and CommonJS whose symbols do not match, so only a structural read works
// for every consumer) and Standard Schema's `~standard.types`. typebox 1.x carries
// no such member: its types are computed by its own `Static`, imported in
// typebox1.d.ts only, where a project without typebox 1.x still compiles.

import type { FastifyRequest, RawServerBase, RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, RouteGenericInterface, ContextConfigDefault, FastifyTypeProvider, FastifyTypeProviderDefault } from 'fastify'
// Not re-exported by fastify's entry, but needed to restate FastifyReply's type parameters.
import type { FastifyReplyType, ResolveFastifyReplyType } from 'fastify/types/type-provider.js'
import type { TypeBox1Static } from './typebox1.js'

/** What an event that fails its schema does to the stream. */
export type SseInvalidEventPolicy = 'end' | 'skip'

/** What a plugin registration and each of its streams can set. */
export interface SseSharedOptions {
  /** An idle stream gets a comment line at least this often (ms); `0` turns it off. Default `15000`. */
  heartbeatInterval?: number
  /** Sends `retry: N` once at the start of every stream. */
  retry?: number
  /** Validate each event against its route schema. Default `true`. */
  validate?: boolean
  /** What an event that fails its schema does: `'end'` the stream (default) or `'skip'` it. */
  onInvalidEvent?: SseInvalidEventPolicy
  /**
   * A stream whose client has accepted no byte for this long (ms) while the stream has
   * bytes to send is dropped; `0` turns it off. Default `60000`.
   */
  sendTimeout?: number
  /**
   * Write `event: end` and `data: [DONE]` when the source finishes on its own, so clients
   * tell a finished stream (stop) from a cut one (reconnect). Default `true`.
   */
  endMarker?: boolean
}

/** Options of `fastify.register(fastifyTypedSse, options)`. */
export interface SseOptions extends SseSharedOptions {
  /**
   * At most this many streams of this registration open at once; past it `sseStream`
   * throws `FST_SSE_TOO_MANY_STREAMS` (503). Default `0`: no limit.
   */
  maxStreams?: number
}

/**
 * The last item of a stream whose source threw (or, with `onInvalidEvent: 'end'`, that
 * sent an invalid event), made from the error. Framed like any event (the name `error`
 * is allowed) but not checked against `schema.sse`.
 */
export type SseFailure = (error: unknown) => SseEvent

/** Options of one stream: `reply.sseStream(source, options)`. */
export interface SseStreamOptions extends SseSharedOptions {
  /** Written as `data: <done>` after the source finishes normally, e.g. `'[DONE]'`. */
  done?: string
  /** Replaces the `stream-error` event with the protocol's own failure event. */
  failure?: SseFailure
}

/** Why a stream ended. */
export type SseEndReason = 'finished' | 'clientGone' | 'failed' | 'invalidEvent' | 'stalled' | 'shutdown'

/** `fastify.sseStats()`: counters of one registration's streams since it started. */
export interface SseStats {
  /** Streams open now. */
  open: number
  /** Streams started (HEAD requests and refused streams are not streams). */
  opened: number
  /** Streams ended, by reason. */
  ended: Record<SseEndReason, number>
  /** Events written (the failure event and the `done` sentinel too; not comments or heartbeats). */
  events: number
  /** Bytes written to the responses, headers not included. */
  bytes: number
  /** Items that failed their schema or the framing rules, whether skipped or ending their stream. */
  invalidEvents: number
  /** Streams refused by `maxStreams`. */
  rejected: number
}

/**
 * What the `node:diagnostics_channel` channels `fastify-typed-sse:stream:open` and
 * `fastify-typed-sse:stream:close` publish. On open, `reason` is `undefined` and the counts are 0.
 */
export interface SseStreamMessage {
  request: FastifyRequest
  reason: SseEndReason | undefined
  /** Events the stream wrote. */
  events: number
  /** Bytes the stream wrote. */
  bytes: number
}

/** An event id: a string, or a non-negative safe integer written in decimal. */
export type SseEventId = string | number

/** One event of a stream. Without `event` it is a `message`. */
export interface SseEvent<Name extends string = string, Data = unknown> {
  event?: Name
  data: Data
  id?: SseEventId
  retry?: number
  /** Not on an event: a comment is an item of its own. */
  comment?: undefined
}

/** A comment line (or several, for a comment with line breaks); never an event. */
export interface SseComment {
  comment: string
  /** Not on a comment: an event is an item of its own. */
  event?: undefined
  data?: undefined
  id?: undefined
  retry?: undefined
}

/**
 * A position: the `id:` line alone. The client stores the id as its last event id and
 * dispatches no event; it is never checked against `schema.sse`.
 */
export interface SsePosition {
  id: SseEventId
  event?: undefined
  data?: undefined
  retry?: undefined
  comment?: undefined
}

/** What the source function is called with. */
export interface SseSourceContext {
  /** Aborts when the stream ends: the client left, the server closed, or the stream finished. */
  signal: AbortSignal
  /** The request's `Last-Event-ID`, decoded as UTF-8; `undefined` when absent or unusable. */
  lastEventId: string | undefined
}

/** What `reply.sseStream` streams: items, or a function that returns them. */
export type SseSource<Item> =
  | AsyncIterable<Item>
  | Iterable<Item>
  | ((context: SseSourceContext) => AsyncIterable<Item> | Iterable<Item>)

/**
 * One schema of `schema.sse`: a TypeBox schema (`@sinclair/typebox` 0.34 or `typebox`
 * 1.x) or a Standard Schema v1 validator (Zod 4, Valibot 1, ArkType 2, ...).
 */
export type SseEventSchema =
  | { readonly static: unknown, readonly params: unknown[] }
  | { readonly '~kind': string }
  | { readonly '~unsafe': unknown }
  | { readonly '~standard': { readonly version: 1, readonly validate: (value: unknown) => unknown } }

/** The types a Standard Schema declares, `{ input, output }`, or `never`. */
type StandardTypes<Schema> = Schema extends { readonly '~standard': { readonly types?: infer Types } }
  ? NonNullable<Types>
  : never

/**
 * The payload type of a schema: TypeBox's `Static<T>` (0.34 or 1.x), or a Standard
 * Schema's output type (what a client that parses the event with it gets).
 */
export type SseStatic<Schema> = Schema extends { static: unknown }
  ? (Schema & { params: [] })['static']
  : [StandardTypes<Schema>] extends [never]
      ? Schema extends { readonly '~kind': string } | { readonly '~unsafe': unknown }
        ? TypeBox1Static<Schema>
        : unknown
      : StandardTypes<Schema> extends { readonly output: infer Output } ? Output : unknown

/**
 * The `data` a route may yield for a schema: what its check accepts. It is written as
 * yielded (a schema's transforms and defaults are not applied), so for a Standard
 * Schema it is the input type; for TypeBox it is `SseStatic`.
 */
export type SseInput<Schema> = [StandardTypes<Schema>] extends [never]
  ? SseStatic<Schema>
  : StandardTypes<Schema> extends { readonly input: infer Input } ? Input : unknown

/** The event items one name of `schema.sse` allows; `message` may leave out `event`. */
type EventOf<Name extends string, Schema> = string extends Name
  // Names not known literally (a Record<string, ...>): any name, or none for a message.
  ? SseEvent<string, SseInput<Schema>>
  : Name extends 'message'
    ? { event?: 'message', data: SseInput<Schema>, id?: SseEventId, retry?: number, comment?: undefined }
    : { event: Name, data: SseInput<Schema>, id?: SseEventId, retry?: number, comment?: undefined }

/** The items a route accepts, from its schema: typed events when it declares `schema.sse`. */
export type SseItemOf<RouteSchema> = RouteSchema extends { sse: infer Events }
  ? Events extends Record<string, unknown>
    ? { [Name in keyof Events & string]: EventOf<Name, Events[Name]> }[keyof Events & string] | SseComment | SsePosition
    : SseEvent | SseComment | SsePosition
  : SseEvent | SseComment | SsePosition

/** `schema.sse`: event names mapped to the schemas of their `data`. */
export type SseEventSchemas = Record<string, SseEventSchema>

declare module 'fastify' {
  interface FastifyInstance {
    /** Counters of the streams of the plugin registration this instance sees. */
    sseStats(): SseStats
  }

  interface FastifySchema {
    /** The route's events: names mapped to the schemas of their `data` (TypeBox, Zod, Valibot, ...). */
    sse?: SseEventSchemas
  }

  // The type parameters restate fastify's own, as declaration merging requires.
  /* eslint-disable @typescript-eslint/no-unused-vars */
  interface FastifyReply<
    RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    ContextConfig = ContextConfigDefault,
    SchemaCompiler extends FastifySchema = FastifySchema,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    ReplyType extends FastifyReplyType = ResolveFastifyReplyType<TypeProvider, SchemaCompiler, RouteGeneric>
  > {
    /**
     * Streams the source as Server-Sent Events: headers go out at once, each event is
     * validated against the route's `schema.sse` before it is written, and the source
     * is torn down when the client leaves or the server closes.
     */
    sseStream(source: SseSource<SseItemOf<SchemaCompiler>>, options?: SseStreamOptions): this
  }
  /* eslint-enable @typescript-eslint/no-unused-vars */
}
