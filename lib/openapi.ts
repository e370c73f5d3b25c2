// A route's `schema.sse` -> the text/event-stream response of its OpenAPI document,
// through @fastify/swagger's `transform` hook. It runs when the document is built
// (once: @fastify/swagger caches it), never per request, and it returns a new route
// schema for the document only: how the route validates and serializes is untouched.

import type { FastifySchema, RouteOptions } from 'fastify'
import { FST_SSE_INVALID_SCHEMA } from './errors.js'
import { isStandardSchema } from './schema-standard.js'
import { isTypeBox034, isTypeBox1 } from './schema-typebox.js'

/** What @fastify/swagger hands a `transform`: the route, and the document being built. */
export interface SseTransformInput {
  schema: FastifySchema | undefined
  url: string
  route: RouteOptions
  /** Present when @fastify/swagger builds an OpenAPI 3 document (its `openapi` option). */
  openapiObject?: { openapi?: string }
}

/** What a `transform` returns; @fastify/swagger uses the route's own schema and url for what is left out. */
export interface SseTransformResult {
  schema?: FastifySchema
  url?: string
}

/** A @fastify/swagger `transform` that also documents the route's event stream. */
export type SseTransform<Input extends SseTransformInput = SseTransformInput> =
  (input: Input) => { schema: FastifySchema, url: string }

/** A JSON Schema (or OpenAPI Schema Object), as plain data. */
type JsonSchema = Record<string, unknown>

/** Which Schema Object the document speaks. */
type Dialect = '3.0' | '3.1' | '3.2'

const EVENT_STREAM = 'text/event-stream'

/** The plugin's failure event (lib/stream.ts): its data is `{ message }`. */
const STREAM_ERROR: JsonSchema = {
  type: 'object',
  description: 'The stream failed and ends after this event; `message` is "Internal Server Error" unless the error was marked safe to show (`expose: true`).',
  properties: { message: { type: 'string' } },
  required: ['message']
}

/** The plugin's end marker (lib/stream.ts): the source finished; the client stops instead of reconnecting. */
function endData (dialect: Dialect): JsonSchema {
  const description = 'The source finished: the last event of a stream that ended on its own. Any other end is a cut: reconnect with Last-Event-ID.'
  return dialect === '3.0' ? { type: 'string', enum: ['[DONE]'], description } : { type: 'string', const: '[DONE]', description }
}

/**
 * Wraps `transform` (or none) so that every route declaring `schema.sse` gets its
 * stream in the document: a `200` response whose `text/event-stream` content is one
 * object per event (`event`, `data`, `id`, `retry`), the plugin's `stream-error` and `end` included.
 *
 * ```ts
 * await app.register(swagger, { openapi: { openapi: '3.2.0' }, transform: withSseStreams() })
 * ```
 */
export function withSseStreams<Input extends SseTransformInput> (transform?: (input: Input) => SseTransformResult): SseTransform<Input> {
  if (transform !== undefined && typeof transform !== 'function') {
    throw new TypeError(`withSseStreams(transform) needs a function (a @fastify/swagger transform), got ${typeof transform}`)
  }
  return function sseTransform (input) {
    const result = transform === undefined ? {} : transform(input)
    const schema = result.schema ?? input.schema
    const url = result.url ?? input.url
    // The route's own schema.sse is what the plugin validates against: document that one.
    const sse = sseOf(input.schema) ?? sseOf(input.route.schema)
    const version = input.openapiObject?.openapi
    // Swagger 2.0 documents cannot describe a union of events: left as they are. So is
    // HEAD (@fastify/swagger's exposeHeadRoutes), which gets the headers and no stream.
    if (sse === undefined || sse === null || schema === undefined || typeof version !== 'string' || input.route.method === 'HEAD') return { schema: schema ?? {}, url }
    const route = `${String(input.route.method)} ${input.route.url}`
    return { schema: withStreamResponse(schema, streamResponse(sse, dialectOf(version), route), route), url }
  }
}

function sseOf (schema: FastifySchema | undefined): unknown {
  return (schema as { sse?: unknown } | undefined)?.sse ?? undefined
}

function dialectOf (version: string): Dialect {
  if (version.startsWith('3.0')) return '3.0'
  if (version.startsWith('3.1')) return '3.1'
  return '3.2'
}

/** The route schema with the stream as its 200 response; the other responses as they were. */
function withStreamResponse (schema: FastifySchema, stream: { description: string, content: JsonSchema }, route: string): FastifySchema {
  const responses = (schema.response ?? {}) as Record<string, unknown>
  const declared = responses['200'] as { content?: unknown } | undefined
  if (declared === undefined) return { ...schema, response: { ...responses, 200: stream } }
  if (!isObject(declared.content)) {
    throw new FST_SSE_INVALID_SCHEMA(route, 'its 200 response is declared as a plain schema; declare it with `content` (the event stream is added to it as text/event-stream)')
  }
  // Beside the route's own media types; a text/event-stream the route describes itself wins.
  const content = { ...declared.content, [EVENT_STREAM]: declared.content[EVENT_STREAM] ?? stream.content[EVENT_STREAM] }
  return { ...schema, response: { ...responses, 200: { ...declared, content } } }
}

/** The 200 response: one object per event, as OpenAPI 3.2 models a text/event-stream. */
function streamResponse (sse: unknown, dialect: Dialect, route: string): { description: string, content: JsonSchema } {
  if (!isObject(sse)) throw new FST_SSE_INVALID_SCHEMA(route, 'it must be an object mapping event names to schemas')
  const events = Object.entries(sse).map(([name, schema]) => eventObject(name, dataSchema(schema, dialect), dialect))
  events.push(eventObject('stream-error', jsonData(STREAM_ERROR, dialect), dialect), eventObject('end', endData(dialect), dialect))
  const event: JsonSchema = { oneOf: events }
  const names = events.map(branch => branch.title).join(', ')
  const description = `A stream of Server-Sent Events: ${names}`
  // 3.2: `itemSchema` is each event. @fastify/swagger only keeps a media type that also
  // has `schema`, and Swagger UI shows only `schema`: there, the whole stream as an array
  // of events, the way the OpenAPI media type registry models it.
  // 3.0 and 3.1 have no `itemSchema`: each event under `schema`, as tools for them read it.
  const media = dialect === '3.2' ? { schema: { type: 'array', items: event }, itemSchema: event } : { schema: event }
  return { description, content: { [EVENT_STREAM]: media } }
}

/** One event as a client's parser sees it: `event`, `data`, `id`, `retry`. */
function eventObject (name: string, data: JsonSchema, dialect: Dialect): JsonSchema {
  return {
    title: name,
    type: 'object',
    properties: {
      // 3.0 has no `const`
      event: dialect === '3.0' ? { type: 'string', enum: [name] } : { type: 'string', const: name },
      data,
      id: { type: 'string' },
      retry: { type: 'integer', minimum: 0 }
    },
    // A `message` has no `event:` line.
    required: name === 'message' ? ['data'] : ['event', 'data']
  }
}

/** The `data` field: text for a string schema, else a string of JSON carrying the schema. */
function dataSchema (schema: unknown, dialect: Dialect): JsonSchema {
  const json = jsonSchemaOf(schema)
  if (typeof json === 'string') return { type: 'string', description: `Not described: ${json}` }
  // The server writes string data as text and anything else as JSON (lib/wire.ts).
  if (json.type === 'string') return json
  return jsonData(json, dialect)
}

function jsonData (schema: JsonSchema, dialect: Dialect): JsonSchema {
  // JSON Schema's keywords for string-encoded data; 3.0's Schema Object only allows them as extensions.
  return dialect === '3.0'
    ? { type: 'string', 'x-contentMediaType': 'application/json', 'x-contentSchema': schema }
    : { type: 'string', contentMediaType: 'application/json', contentSchema: schema }
}

/** A schema as plain JSON Schema, or why it has none. */
function jsonSchemaOf (schema: unknown): JsonSchema | string {
  // ArkType's types are functions.
  if ((typeof schema !== 'object' && typeof schema !== 'function') || schema === null) return 'the schema is not an object'
  // TypeBox 0.34 and 1.x schemas are JSON Schema already (their symbol and non-enumerable keys aside).
  if (isTypeBox034(schema) || isTypeBox1(schema)) return plainJson(schema)
  if (!isStandardSchema(schema)) return 'the schema is neither TypeBox nor a Standard Schema'
  const standard = (schema as { '~standard': JsonSchema })['~standard']
  try {
    const exported = standardJsonSchema(schema as JsonSchema, standard)
    return isObject(exported) ? plainJson(exported) : `${String(standard.vendor)} offers no JSON Schema for it`
  } catch (err) {
    return `${String(standard.vendor)} could not export it as JSON Schema (${(err as Error).message})`
  }
}

/** The Standard JSON Schema interface (`~standard.jsonSchema`), else Zod 4's and ArkType's own exporters. */
function standardJsonSchema (schema: JsonSchema, standard: JsonSchema): unknown {
  const jsonSchema = standard.jsonSchema as { output?: unknown } | undefined
  if (isObject(jsonSchema) && typeof jsonSchema.output === 'function') return jsonSchema.output({ target: 'draft-2020-12' })
  if (standard.vendor === 'zod' && typeof schema.toJSONSchema === 'function') return schema.toJSONSchema({ target: 'draft-2020-12' })
  if (standard.vendor === 'arktype' && typeof schema.toJsonSchema === 'function') return schema.toJsonSchema()
  return undefined
}

/** A copy that is JSON data only (TypeBox's symbol keys dropped), without its `$schema`. */
function plainJson (schema: unknown): JsonSchema {
  const copy = JSON.parse(JSON.stringify(schema)) as JsonSchema
  delete copy.$schema
  return copy
}

function isObject (value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
