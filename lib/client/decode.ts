// Per event name, how the client turns an event's text into its data: text for a
// string schema, JSON otherwise (the server writes string data as text and
// everything else as JSON), then the schema's check. Built once per stream.

import { SseValidationError } from './errors.js'
import type { SseSchemaCheck } from './types.js'

/** The decoded, checked data of one event (a promise only for an async Standard Schema). */
export type Accept = (text: string) => unknown

interface StandardSchema {
  '~standard': {
    validate (data: unknown): StandardResult | Promise<StandardResult>
  }
}

type StandardResult = { value: unknown, issues?: undefined } | { issues: readonly unknown[] }

/** The decoders of the declared events, built once per stream. */
export function eventDecoders (events: object, validate: boolean | SseSchemaCheck): Map<string, Accept> {
  if (typeof validate !== 'boolean' && typeof validate !== 'function') throw new TypeError('validate must be a boolean or a function (schema, data)')
  if (typeof events !== 'object' || events === null || Array.isArray(events)) {
    throw new TypeError('events must map event names to schemas')
  }
  const decoders = new Map<string, Accept>()
  for (const [name, schema] of Object.entries(events)) {
    if (typeof schema !== 'object' || schema === null) throw new TypeError(`event "${name}": not a schema`)
    decoders.set(name, decoderOf(name, schema, validate))
  }
  return decoders
}

function decoderOf (name: string, schema: object, validate: boolean | SseSchemaCheck): Accept {
  const text = isTextSchema(schema)
  const decode = text ? (data: string) => data : (data: string) => parseJson(name, data)
  if (validate === false) return decode
  if (isStandardSchema(schema)) {
    const standard = schema['~standard']
    return (data) => {
      const result = standard.validate(decode(data))
      return result instanceof Promise ? result.then(result => accepted(name, data, result)) : accepted(name, data, result)
    }
  }
  if (validate === true) {
    throw new TypeError(`event "${name}": checking a TypeBox or JSON schema needs validate: Value.Check (from its package's /value), or false`)
  }
  return (data) => {
    const value = decode(data)
    if (!validate(schema, value)) throw invalid(name, data)
    return value
  }
}

function accepted (name: string, data: string, result: StandardResult): unknown {
  if (result.issues !== undefined) throw invalid(name, data, 'does not match its schema', result.issues)
  return result.value
}

function parseJson (name: string, data: string): unknown {
  try {
    return JSON.parse(data)
  } catch {
    throw invalid(name, data, 'is not JSON')
  }
}

function invalid (name: string, data: string, why = 'does not match its schema', issues?: readonly unknown[]): SseValidationError {
  return new SseValidationError(`the data of event "${name}" ${why}`, name, data, issues)
}

function isStandardSchema (schema: object): schema is StandardSchema {
  return typeof (schema as Partial<StandardSchema>)['~standard']?.validate === 'function'
}

/**
 * Whether every value the schema allows is a string, read from its shape only: a string
 * type or constant, or a non-empty list whose every member is (a string or a schema that
 * is). JSON Schema keywords cover TypeBox 0.34 and typebox 1.x (`const`, `enum`, `anyOf`,
 * `oneOf`); Zod 4 and Valibot schemas say `type: 'string'` too, and keep their literals in
 * `values` (Zod, a Set) or `literal` (Valibot), their enums, picklists and unions in `options`.
 */
export function isTextSchema (schema: unknown): boolean {
  if (typeof schema === 'string') return true // a member of an enum
  if (typeof schema !== 'object' || schema === null) return false
  const shape = schema as Record<string, any>
  if (shape.type === 'string' || typeof (shape.const ?? shape.literal) === 'string') return true
  const members: unknown[] | Set<unknown> | undefined = [shape.enum, shape.anyOf, shape.oneOf, shape.options, shape.values].find(list => Array.isArray(list) || list instanceof Set)
  const list = [...members ?? []]
  return list.length > 0 && list.every(isTextSchema)
}
