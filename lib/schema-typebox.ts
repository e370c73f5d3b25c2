// TypeBox schemas, both lines: `@sinclair/typebox` 0.34 (marked with its Kind
// symbol, compiled by its TypeCompiler) and `typebox` 1.x (marked with a `~kind`
// property, compiled by `typebox/compile`). Each compiles to one JIT check.

import { Kind, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Validator } from 'typebox/compile' with { 'resolution-mode': 'import' }
import type { SchemaCheck, SchemaError } from './schema-check.js'

type TypeBox1Compile = typeof import('typebox/compile', { with: { 'resolution-mode': 'import' } }).Compile

/** A schema made by `@sinclair/typebox` 0.34. */
export function isTypeBox034 (schema: object): boolean {
  return Kind in schema
}

/**
 * A schema made by `typebox` 1.x: its kind is a (non-enumerable) `~kind` string, not
 * 0.34's symbol; `Type.Unsafe` marks its schema with `~unsafe` instead.
 */
export function isTypeBox1 (schema: object): boolean {
  return typeof (schema as { '~kind'?: unknown })['~kind'] === 'string' || '~unsafe' in schema
}

export function typeBox034Check (schema: object, maxErrors: number): SchemaCheck {
  const validator = TypeCompiler.Compile(schema as TSchema)
  return {
    check: (data) => validator.Check(data),
    errors: (data) => {
      const errors: SchemaError[] = []
      for (const error of validator.Errors(data)) {
        errors.push({ path: error.path, message: error.message })
        if (errors.length === maxErrors) break
      }
      return errors
    }
  }
}

export function typeBox1Check (schema: object, maxErrors: number): SchemaCheck {
  const validator: Validator = typeBox1Compiler()(schema)
  return {
    check: (data) => validator.Check(data),
    errors: (data) => validator.Errors(data).slice(0, maxErrors).map(({ instancePath, message }) => ({ path: instancePath, message }))
  }
}

// typebox 1.x is ESM only. The plugin imports its compiler while it registers
// (preloadTypeBox1), so routes compile synchronously however Node loads modules.
// Without that preload (a hub created before the plugin is registered), `require`
// loads it (Node 20.19+ can require ESM; on Node 20 some module loader hooks break that).
let compile: TypeBox1Compile | undefined
let preload: Promise<void> | undefined

/** Loads typebox 1.x's compiler if the package is installed; resolves either way. */
export function preloadTypeBox1 (): Promise<void> {
  preload ??= import('typebox/compile').then(
    (module) => { compile ??= module.Compile },
    () => {} // not installed: a typebox 1.x schema, if any, says so when it is compiled
  )
  return preload
}

function typeBox1Compiler (): TypeBox1Compile {
  if (compile !== undefined) return compile
  try {
    compile = (require('typebox/compile') as { Compile: TypeBox1Compile }).Compile
    return compile
  } catch (err) {
    throw new Error(`a typebox 1.x schema needs the "typebox" package's compiler, which could not be loaded (${(err as Error).message}); install typebox, or register fastify-typed-sse before compiling these schemas`)
  }
}
