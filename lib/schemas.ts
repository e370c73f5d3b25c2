// A route's `schema.sse` to one compiled validator per event name. Compiled
// once per route, when the route is registered, never per request.

import { Kind, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { FST_SSE_INVALID_SCHEMA } from './errors.js'
import { eventField, isFieldValue } from './wire.js'

/** Names an event may not have: the plugin's own failure event, and the name EventSource uses for broken connections. */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set(['stream-error', 'error'])

/** How many schema errors of one event are logged. */
const MAX_LOGGED_ERRORS = 10

/**
 * One declared event: its compiled check, and its `event:` line, written as is once
 * the name is known to be declared. Every schema kind compiles to this shape.
 */
export interface DeclaredEvent {
  /** One compiled check of a payload; runs once per event. */
  check (data: unknown): boolean
  /** Why a payload fails (called only after `check` said no), for the log. */
  errors (data: unknown): SchemaError[]
  readonly eventLine: string
}

export type EventValidators = ReadonlyMap<string, DeclaredEvent>

export interface SchemaError {
  path: string
  message: string
}

export function compileEventSchemas (sse: unknown, route: string): EventValidators {
  if (typeof sse !== 'object' || sse === null || Array.isArray(sse)) {
    throw new FST_SSE_INVALID_SCHEMA(route, 'it must be an object mapping event names to TypeBox schemas')
  }
  const validators = new Map<string, DeclaredEvent>()
  for (const [name, schema] of Object.entries(sse)) {
    if (name === '' || !isFieldValue(name)) {
      throw new FST_SSE_INVALID_SCHEMA(route, `event name ${JSON.stringify(name)} must be non-empty, without CR, LF or NUL`)
    }
    if (RESERVED_EVENT_NAMES.has(name)) {
      throw new FST_SSE_INVALID_SCHEMA(route, `event name "${name}" is reserved (${name === 'error' ? 'EventSource fires "error" for broken connections' : 'the plugin sends it when a stream fails'})`)
    }
    if (typeof schema !== 'object' || schema === null || !(Kind in schema)) {
      throw new FST_SSE_INVALID_SCHEMA(route, `the schema of event "${name}" is not a TypeBox schema`)
    }
    try {
      validators.set(name, typeboxEvent(TypeCompiler.Compile(schema as TSchema), eventField(name)))
    } catch (err) {
      throw new FST_SSE_INVALID_SCHEMA(route, `the schema of event "${name}" does not compile: ${(err as Error).message}`)
    }
  }
  return validators
}

function typeboxEvent (validator: TypeCheck<TSchema>, eventLine: string): DeclaredEvent {
  return {
    check: (data) => validator.Check(data),
    errors: (data) => schemaErrors(validator, data),
    eventLine
  }
}

/** The first few reasons a payload fails its schema, for the log. */
function schemaErrors (validator: TypeCheck<TSchema>, data: unknown): SchemaError[] {
  const errors: SchemaError[] = []
  for (const error of validator.Errors(data)) {
    errors.push({ path: error.path, message: error.message })
    if (errors.length === MAX_LOGGED_ERRORS) break
  }
  return errors
}
