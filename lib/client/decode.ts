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

/** `then` applied to `value` when it is a promise, else at once (a sync schema's events wait for no tick). */
export function settle<Value, Result> (value: Value | Promise<Value>, then: (value: Value) => Result): Result | Promise<Result> {
  return value instanceof Promise ? value.then(then) : then(value)
}

/** The decoders of the declared events, built once per stream. */
export function eventDecoders (events: object, validate: boolean | SseSchemaCheck): Map<string, Accept> {
  if (typeof validate !== 'boolean' && typeof validate !== 'function') throw new TypeError('validate must be a boolean or a function (schema, data)')
  if (!isObject(events) || Array.isArray(events)) throw new TypeError('events must map event names to schemas')
  return new Map(Object.entries(events).map(([name, schema]) => {
    if (!isObject(schema)) throw new TypeError(`event "${name}": not a schema`)
    return [name, decoderOf(name, schema, validate)]
  }))
}

function decoderOf (name: string, schema: object, validate: boolean | SseSchemaCheck): Accept {
  const text = isTextSchema(schema)
  const decode = (data: string): unknown => {
    if (text) return data
    try {
      return JSON.parse(data)
    } catch {
      throw new SseValidationError(`the data of event "${name}" is not JSON`, name, data)
    }
  }
  if (validate === false) return decode
  const standard = (schema as Partial<StandardSchema>)['~standard']
  if (typeof standard?.validate === 'function') {
    return (data) => settle(standard.validate(decode(data)), (result) => {
      if (result.issues) throw new SseValidationError(`the data of event "${name}" does not match its schema`, name, data, result.issues)
      return result.value
    })
  }
  if (validate === true) {
    throw new TypeError(`event "${name}": checking a TypeBox or JSON schema needs validate: Value.Check (from its package's /value), or false`)
  }
  return (data) => {
    const value = decode(data)
    if (!validate(schema, value)) throw new SseValidationError(`the data of event "${name}" does not match its schema`, name, data)
    return value
  }
}

export function isObject (value: unknown): boolean {
  return typeof value === 'object' && value !== null
}

/**
 * Whether every value the schema allows is a string, read from its shape only: a string
 * type or constant, or a non-empty list whose every member is (a string or a schema that
 * is). JSON Schema keywords cover TypeBox 0.34 and typebox 1.x (`const`, `enum`, `anyOf`,
 * `oneOf`); Zod 4 and Valibot schemas say `type: 'string'` too, and keep their literals in
 * `values` (Zod, a Set) or `literal` (Valibot), their enums, picklists and unions in `options`.
 */
export function isTextSchema (schema: any): boolean {
  if (!isObject(schema)) return typeof schema === 'string' // a member of an enum
  if (schema.type === 'string' || typeof (schema.const ?? schema.literal) === 'string') return true
  const members: unknown[] | Set<unknown> | undefined = [schema.enum, schema.anyOf, schema.oneOf, schema.options, schema.values].find(list => Array.isArray(list) || list instanceof Set)
  const list = [...members ?? []]
  return list.length > 0 && list.every(isTextSchema)
}
