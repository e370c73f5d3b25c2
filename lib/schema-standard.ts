// Standard Schema v1 validators (Zod 4, Valibot 1, ArkType 2, ...): checked through
// `~standard.validate`, their issues logged as `{ path, message }` like TypeBox's.
// Only synchronous validation fits: an event is checked before it is written, in
// the same tick. A schema known to be async is refused at registration (Valibot's
// `async` flag); one that turns out async (Zod's async refinements) fails its
// stream at its first event.

import type { SchemaCheck, SchemaError } from './schema-check.js'

type PathSegment = PropertyKey | { readonly key: PropertyKey }

interface Issue {
  readonly message: string
  readonly path?: ReadonlyArray<PathSegment> | undefined
}

type Result = { readonly issues?: undefined } | { readonly issues: ReadonlyArray<Issue> }

interface StandardSchema {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    validate (value: unknown): Result | Promise<Result>
  }
}

/** A Standard Schema v1 validator: objects, or functions (ArkType's types are callable). */
export function isStandardSchema (schema: object): boolean {
  const props = (schema as Partial<StandardSchema>)['~standard']
  return typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function'
}

/** True when the schema says it validates asynchronously (Valibot's `*Async` schemas). */
export function isKnownAsync (schema: object): boolean {
  return (schema as { async?: unknown }).async === true
}

/**
 * `asyncError` is what a check throws when `validate` returns a Promise: not an
 * invalid event but a route that cannot work, so its stream fails.
 */
export function standardSchemaCheck (schema: object, maxErrors: number, asyncError: () => Error): SchemaCheck {
  const props = (schema as StandardSchema)['~standard']
  // The issues of the last failed check, for the errors() call that follows it.
  let failed: unknown
  let failedIssues: ReadonlyArray<Issue> | undefined

  function validate (data: unknown): Result {
    const result = props.validate(data)
    if (typeof (result as Partial<Promise<Result>>).then === 'function') {
      // The answer is dropped; a rejection of it must not go unhandled.
      (result as Promise<Result>).then(undefined, () => {})
      throw asyncError()
    }
    return result as Result
  }

  return {
    check: (data) => {
      const { issues } = validate(data)
      if (issues === undefined) return true
      failed = data
      failedIssues = issues
      return false
    },
    errors: (data) => {
      const issues = (failedIssues !== undefined && data === failed ? failedIssues : validate(data).issues) ?? []
      failed = undefined
      failedIssues = undefined
      return issues.slice(0, maxErrors).map(schemaError)
    }
  }
}

function schemaError (issue: Issue): SchemaError {
  let path = ''
  for (const segment of issue.path ?? []) {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment
    path += '/' + String(key).replaceAll('~', '~0').replaceAll('/', '~1')
  }
  return { path, message: issue.message }
}
