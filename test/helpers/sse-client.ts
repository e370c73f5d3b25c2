// A stream client on node:http, for tests that must leave (or stop reading) at a
// chosen moment; what arrives is parsed with eventsource-parser.

import http, { type IncomingMessage } from 'node:http'
import { createParser, type EventSourceMessage } from 'eventsource-parser'

export interface SseClient {
  response: IncomingMessage
  /** The events, without the end marker. */
  events: EventSourceMessage[]
  /** The end marker came (`event: end`, `data: [DONE]`): the source finished. */
  finished: boolean
  /** The response ended cleanly (the server ended it). */
  ended: boolean
  /** The response is over, however it ended. */
  closed: boolean
  leave (): void
}

export interface ConnectOptions {
  method?: string
  body?: unknown
  headers?: Record<string, string>
  agent?: http.Agent
  /** false: never read the body, like a stalled client. */
  read?: boolean
}

/** Opens a stream with node:http and parses what arrives with eventsource-parser. */
export async function connect (url: string, options: ConnectOptions = {}): Promise<SseClient> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  const headers: Record<string, string | number> = { ...options.headers }
  if (payload !== undefined) {
    headers['content-type'] = 'application/json'
    headers['content-length'] = Buffer.byteLength(payload)
  }
  const request = http.request(url, { method: options.method ?? 'GET', headers, agent: options.agent ?? false })
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve)
    request.once('error', reject)
    request.end(payload)
  })
  request.on('error', () => {}) // leaving, or a stalled client's stream being cut, surfaces as ECONNRESET
  const client: SseClient = {
    response,
    events: [],
    finished: false,
    ended: false,
    closed: false,
    leave: () => request.destroy()
  }
  if (options.read !== false) {
    const parser = createParser({
      onEvent: (event) => {
        if (event.event === 'end' && event.data === '[DONE]' && !client.finished) client.finished = true
        else client.events.push(event) // anything after the marker too, so a test sees it
      }
    })
    response.setEncoding('utf8')
    response.on('data', (text: string) => parser.feed(text))
  }
  response.on('end', () => { client.ended = true })
  response.on('close', () => { client.closed = true })
  response.on('error', () => {})
  return client
}
