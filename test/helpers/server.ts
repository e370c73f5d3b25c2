// Shared by the tests: a Fastify app with the plugin that really listens on
// 127.0.0.1, and a reader that parses the response bytes with eventsource-parser.

import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import fastifyTypedSse, { type SseOptions } from '../../index.js'

export interface Listening {
  app: FastifyInstance
  url: string
}

/** An app with the plugin registered; `routes` adds the routes under test; listens on 127.0.0.1. */
export async function listen (
  routes: (app: FastifyInstance) => void | Promise<void>,
  options: { plugin?: SseOptions, fastify?: FastifyServerOptions } = {}
): Promise<Listening> {
  const app = Fastify({ logger: false, ...options.fastify })
  await app.register(fastifyTypedSse, options.plugin ?? {})
  await routes(app)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

export interface ParsedStream {
  events: EventSourceMessage[]
  comments: string[]
  retries: number[]
  raw: string
}

/** Reads a response body to its end and parses it with eventsource-parser. */
export async function readEvents (response: Response): Promise<ParsedStream> {
  const parsed: ParsedStream = { events: [], comments: [], retries: [], raw: '' }
  const parser = createParser({
    onEvent: (event) => parsed.events.push(event),
    onComment: (comment) => parsed.comments.push(comment),
    onRetry: (retry) => parsed.retries.push(retry)
  })
  const decoder = new TextDecoder()
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    const text = decoder.decode(chunk, { stream: true })
    parsed.raw += text
    parser.feed(text)
  }
  return parsed
}

/** The last block of a stream whose source finished on its own (api.md rule 8). */
export const END_MARKER = 'event: end\ndata: [DONE]\n\n'

/**
 * A body without its end marker, for tests of what comes before it: `finished` says
 * whether the body ended with the marker (the source finished) or not (a cut, a failure).
 */
export function withoutEndMarker (text: string): { body: string, finished: boolean } {
  return text.endsWith(END_MARKER) ? { body: text.slice(0, -END_MARKER.length), finished: true } : { body: text, finished: false }
}
