// The plugin's error codes. Each is thrown where it is the caller's mistake
// (options, sources, schemas); events that go wrong mid-stream are logged instead.
import createError from '@fastify/error'

export const FST_SSE_INVALID_OPTION = createError<[string]>(
  'FST_SSE_INVALID_OPTION', 'Invalid fastify-typed-sse option: %s', 500, TypeError)

export const FST_SSE_INVALID_SOURCE = createError<[string]>(
  'FST_SSE_INVALID_SOURCE', 'reply.sseStream() needs an iterable or async iterable of event items, or a function returning one; got %s', 500, TypeError)

export const FST_SSE_REPLY_SENT = createError<[]>(
  'FST_SSE_REPLY_SENT', 'reply.sseStream() was called on a reply that was already sent or hijacked', 500)

export const FST_SSE_INVALID_SCHEMA = createError<[string, string]>(
  'FST_SSE_INVALID_SCHEMA', 'Invalid schema.sse on route %s: %s', 500, TypeError)

export const FST_SSE_INVALID_EVENT = createError<[string]>(
  'FST_SSE_INVALID_EVENT', 'Invalid SSE event: %s', 500)

export const FST_SSE_TOO_MANY_STREAMS = createError<[number]>(
  'FST_SSE_TOO_MANY_STREAMS', 'Too many open event streams (maxStreams is %d); try again later', 503)

export const FST_SSE_INVALID_TOPIC = createError<[string]>(
  'FST_SSE_INVALID_TOPIC', 'Invalid hub topic: %s', 500, TypeError)

export const FST_SSE_HUB_UNAVAILABLE = createError<[string]>(
  'FST_SSE_HUB_UNAVAILABLE', 'The hub cannot reach its engine: %s', 503)
