// fastify-typed-sse/client: the other end of a typed stream, for browsers, Node,
// Deno, Bun and workers. No Node built-ins, nothing of the server's runtime.

export { eventStream } from './event-stream.js'
export { typedEventSource } from './event-source.js'
export { SseHttpError, SseStreamError, SseValidationError } from './errors.js'
export { hubReset } from './reset.js'
export type * from './types.js'
