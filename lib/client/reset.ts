// The hub's `reset` event, for pages that declare the events of a hub route
// without TypeBox: `events: { ...roomEvents, reset: hubReset }`. A Standard Schema
// of its own, a few lines, so that it costs nothing to a page that does not use it.

import type { SseResetData } from './types.js'

const REASONS: ReadonlySet<unknown> = new Set(['unknown-id', 'history-lost'])

/** The schema of the hub's `reset` data, `{ reason: 'unknown-id' | 'history-lost' }` (Standard Schema v1). */
export const hubReset: {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: 'fastify-typed-sse'
    readonly validate: (value: unknown) => { value: SseResetData, issues?: undefined } | { issues: ReadonlyArray<{ message: string }> }
    readonly types?: { readonly input: SseResetData, readonly output: SseResetData }
  }
} = {
  '~standard': {
    version: 1,
    vendor: 'fastify-typed-sse',
    validate: (value) => REASONS.has((value as Partial<SseResetData> | null)?.reason)
      ? { value: value as SseResetData }
      : { issues: [{ message: 'expected { reason: "unknown-id" | "history-lost" }' }] }
  }
}
