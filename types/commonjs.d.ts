// The typings of `require('fastify-typed-sse')`: the `export =` plus namespace shape
// of the official Fastify plugins, so that `import x = require('fastify-typed-sse')`
// is the plugin itself (`app.register(x, options)` compiles), with `x.default`,
// `x.fastifyTypedSse` and every type of the package on it. The build writes this file
// as dist/cjs/index.d.ts, over the typings tsc makes from index.ts (kept as
// dist/cjs/entry.d.ts), and checks that the namespace names every export of the entry.

import * as entry from '../index.js'

type Plugin = typeof entry.fastifyTypedSse

declare function fastifyTypedSse (...params: Parameters<Plugin>): ReturnType<Plugin>

declare namespace fastifyTypedSse {
  export const fastifyTypedSse: Plugin
  export { fastifyTypedSse as default }
  export import withSseStreams = entry.withSseStreams
  export import SseComment = entry.SseComment
  export import SseEndReason = entry.SseEndReason
  export import SseEvent = entry.SseEvent
  export import SseEventId = entry.SseEventId
  export import SseEventSchema = entry.SseEventSchema
  export import SseEventSchemas = entry.SseEventSchemas
  export import SseFailure = entry.SseFailure
  export import SseInput = entry.SseInput
  export import SseInvalidEventPolicy = entry.SseInvalidEventPolicy
  export import SseItemOf = entry.SseItemOf
  export import SseOptions = entry.SseOptions
  export import SsePosition = entry.SsePosition
  export import SseSharedOptions = entry.SseSharedOptions
  export import SseSource = entry.SseSource
  export import SseSourceContext = entry.SseSourceContext
  export import SseStatic = entry.SseStatic
  export import SseStats = entry.SseStats
  export import SseStreamMessage = entry.SseStreamMessage
  export import SseStreamOptions = entry.SseStreamOptions
  // Exported by the entry with `export type`, which an import alias cannot name.
  export type SseTransform<Input extends entry.SseTransformInput = entry.SseTransformInput> = entry.SseTransform<Input>
  export type SseTransformInput = entry.SseTransformInput
  export type SseTransformResult = entry.SseTransformResult
}

export = fastifyTypedSse
