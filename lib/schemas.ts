// A route's `schema.sse` to one compiled validator per event name. Compiled
// once per route, when the route is registered, never per request. Each schema
// kind (TypeBox 0.34, typebox 1.x, Standard Schema) has its adapter beside this file.

import { FST_SSE_INVALID_SCHEMA } from './errors.js'
import type { SchemaCheck } from './schema-check.js'
import { isStandardSchema, isKnownAsync, standardSchemaCheck } from './schema-standard.js'
import { isTypeBox034, isTypeBox1, preloadTypeBox1, typeBox034Check, typeBox1Check } from './schema-typebox.js'
import { eventField, isFieldValue } from './wire.js'

/** Names an event may not have: the plugin's own failure and end events, and the name EventSource uses for broken connections. */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set(['stream-error', 'end', 'error'])

const RESERVED_WHY: Record<string, string> = {
  'stream-error': 'the plugin sends it when a stream fails',
  end: 'the plugin sends it when a stream\'s source finishes',
  error: 'EventSource fires "error" for broken connections'
}

/** How many schema errors of one event are logged. */
const MAX_LOGGED_ERRORS = 10

/**
 * One declared event: its compiled check (every schema kind compiles to one), and
 * its `event:` line, written as is once the name is known to be declared.
 */
export interface DeclaredEvent extends SchemaCheck {
  readonly eventLine: string
}

export type EventValidators = ReadonlyMap<string, DeclaredEvent>

const SCHEMA_KINDS = 'a TypeBox schema (@sinclair/typebox 0.34 or typebox 1.x) or a Standard Schema v1 validator (Zod, Valibot, ArkType)'

/**
 * Loads what compiling some schema kinds needs and cannot load synchronously
 * everywhere (typebox 1.x is ESM only). The plugin awaits it when it registers.
 */
export function loadSchemaCompilers (): Promise<void> {
  return preloadTypeBox1()
}

export function compileEventSchemas (sse: unknown, route: string): EventValidators {
  if (typeof sse !== 'object' || sse === null || Array.isArray(sse)) {
    throw new FST_SSE_INVALID_SCHEMA(route, `it must be an object mapping event names to schemas, each ${SCHEMA_KINDS}`)
  }
  const validators = new Map<string, DeclaredEvent>()
  for (const [name, schema] of Object.entries(sse)) {
    if (name === '' || !isFieldValue(name)) {
      throw new FST_SSE_INVALID_SCHEMA(route, `event name ${JSON.stringify(name)} must be non-empty, without CR, LF or NUL`)
    }
    if (RESERVED_EVENT_NAMES.has(name)) {
      throw new FST_SSE_INVALID_SCHEMA(route, `event name "${name}" is reserved (${RESERVED_WHY[name]})`)
    }
    validators.set(name, { ...compileSchema(schema, name, route), eventLine: eventField(name) })
  }
  return validators
}

function compileSchema (schema: unknown, name: string, route: string): SchemaCheck {
  const invalid = (reason: string): Error => new FST_SSE_INVALID_SCHEMA(route, `the schema of event "${name}" ${reason}`)
  const isObject = typeof schema === 'object' && schema !== null
  if (isObject && isTypeBox034(schema)) return compileOrThrow(() => typeBox034Check(schema, MAX_LOGGED_ERRORS), invalid)
  if (isObject && isTypeBox1(schema)) return compileOrThrow(() => typeBox1Check(schema, MAX_LOGGED_ERRORS), invalid)
  if ((isObject || typeof schema === 'function') && isStandardSchema(schema)) {
    if (isKnownAsync(schema)) throw invalid(ASYNC_SCHEMA)
    return standardSchemaCheck(schema, MAX_LOGGED_ERRORS, () => invalid(ASYNC_SCHEMA))
  }
  throw invalid(`is not a schema: expected ${SCHEMA_KINDS}`)
}

const ASYNC_SCHEMA = 'validates asynchronously; events are checked before they are written, in the same tick, so their schemas must validate synchronously (no async refinements or pipes)'

function compileOrThrow (compile: () => SchemaCheck, invalid: (reason: string) => Error): SchemaCheck {
  try {
    return compile()
  } catch (err) {
    throw invalid(`does not compile: ${(err as Error).message}`)
  }
}
