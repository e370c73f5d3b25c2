// eventStream(url, options): a stream of typed events over fetch, for any method,
// that reconnects like EventSource where that is safe. Browser-safe: only fetch,
// AbortController, TextDecoder and setTimeout.

import { eventDecoders, settle } from './decode.js'
import { SseHttpError, SseValidationError, streamError } from './errors.js'
import { eventParser, type Dispatch } from './parse.js'
import { reconnectDelay, reconnectPolicy } from './reconnect.js'
import type { EventStream, EventStreamOptions, SseClientEvent, SseClientEvents, SseClientItem, SseUntypedEvent } from './types.js'

/** How a response ended when nothing failed: it just ended (a cut: reconnect). */
const ENDED = {}

/** Without `events`, an event's data is its text. */
const asText = (data: string): string => data

/**
 * The events of `url`, decoded, checked against `events` and typed from it; without
 * `events`, each event's data is its text. Iterate it once with `for await`.
 */
export function eventStream<Events extends SseClientEvents> (url: string | URL, options: EventStreamOptions<Events> & { events: Events }): EventStream<SseClientItem<Events>>
export function eventStream (url: string | URL, options?: EventStreamOptions<undefined>): EventStream<SseUntypedEvent>
export function eventStream (url: string | URL, options: EventStreamOptions = {}): EventStream<SseClientEvent> {
  if (!(typeof url === 'string' || url instanceof URL)) throw new TypeError('eventStream() needs a URL')
  // `let` for lastEventId, which moves, and body, which may become JSON.
  let { events, validate = true, done, signal: outer, heartbeatTimeout = 45_000, credentials, lastEventId = '', body } = options
  if (!(heartbeatTimeout >= 0)) throw new TypeError('heartbeatTimeout must be a number of ms (0: none)')
  const fetch = options.fetch ?? globalThis.fetch
  if (typeof fetch !== 'function') throw new TypeError('no fetch: pass options.fetch')
  const method = (options.method ?? 'GET').toUpperCase()
  const reconnect = reconnectPolicy(options.reconnect, method)
  const decoders = events === undefined ? undefined : eventDecoders(events, validate)
  const href = String(url)

  // The request, built once: a plain object or array body becomes JSON.
  const headers = new Headers(options.headers)
  if (!headers.has('accept')) headers.set('accept', 'text/event-stream')
  const prototype = body != null && Object.getPrototypeOf(body)
  if (prototype === Object.prototype || prototype === null || Array.isArray(body)) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/json')
    body = JSON.stringify(body)
  } else if (reconnect && typeof (body as ReadableStream | undefined)?.getReader === 'function') {
    throw new TypeError('a stream body cannot be sent again on a reconnect: set reconnect: false')
  }

  /** The server's reconnection time (`retry:`), once it sent one. */
  let retry: number | undefined
  let iterator: AsyncGenerator<SseClientEvent, void, undefined> | undefined

  async function * run (): AsyncGenerator<SseClientEvent, void, undefined> {
    outer?.throwIfAborted()
    const controller = new AbortController()
    const { signal } = controller
    const init = { method, headers, credentials, body: body as RequestInit['body'], signal }
    // The listener goes when the stream's own signal aborts, which the end of the stream always does.
    outer?.addEventListener('abort', () => controller.abort(outer.reason), { signal })
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    /** Failed attempts in a row. */
    let failures = 0
    try {
      while (true) {
        /** What ended the response: ENDED, or the error that cut it. */
        let ending: unknown = ENDED
        /** The least wait before the next attempt that the server asked for (`retry-after`), in ms. */
        let wait = 0
        // One request and its response, read to its end; `break` leaves it.
        do {
          // fetch takes header values of characters up to U+00FF only: an id with others goes
          // as its UTF-8 bytes, one character each (the old idiom below), as the server decodes it.
          if (lastEventId) headers.set('last-event-id', unescape(encodeURIComponent(lastEventId)))
          let response: Response
          try {
            response = await fetch(href, init)
          } catch (error) {
            ending = error
            break
          }
          const status = response.status
          if (status === 204) return // the server's "do not come back"
          if (!response.ok) {
            // 408, 429 and 5xx may be retried (after the server's `retry-after`); any other status is final.
            const text = await response.text().catch(() => '')
            signal.throwIfAborted()
            ending = new SseHttpError(`the server answered ${status}`, status, text)
            if (status < 500 && status !== 408 && status !== 429) throw ending
            wait = Number(response.headers.get('retry-after')) * 1000 // seconds (NaN, so no wait, for a date)
            break
          }
          const type = response.headers.get('content-type') ?? ''
          reader = response.body?.getReader() // cancelled when the stream ends, so is a body thrown away here
          if (!/^text\/event-stream\s*(;|$)/i.test(type) || !reader) {
            throw new SseHttpError(`expected text/event-stream, got ${type || 'no content type'}`, status, '')
          }
          failures = 0
          const decoder = new TextDecoder()
          const blocks: Array<Parameters<Dispatch>> = []
          const parser = eventParser((...block) => blocks.push(block), (ms) => { retry = ms })
          // One timer per response, not per chunk: it looks at when the last bytes came.
          let heard = Date.now()
          const listen = (): void => {
            const left = heard + heartbeatTimeout - Date.now()
            if (left > 0) timer = setTimeout(listen, left)
            else { // a silent network path never ends on its own: end it
              ending = new Error(`nothing received for ${heartbeatTimeout} ms`)
              reader!.cancel().catch(() => {})
            }
          }
          if (heartbeatTimeout) listen() // 0: none
          while (true) {
            let chunk
            try {
              chunk = await reader.read()
            } catch (error) {
              ending = error // the connection was cut
              break
            }
            if (ending !== ENDED) break // silent
            heard = Date.now()
            parser.feed(decoder.decode(chunk.value, { stream: !chunk.done }))
            if (chunk.done) parser.end()
            // One at a time, ids included: a consumer that breaks leaves the rest unread, the last event id at the last it read.
            for (const [type, data, id] of blocks.splice(0)) {
              if (id !== undefined) lastEventId = id // an id persists for the events after it, as in EventSource
              if (data === undefined) continue // a position: it only moves the last event id
              // The server's end marker, or the `done` sentinel: the stream is over.
              if (type === 'end' ? data === '[DONE]' : data === done && type === 'message') return
              if (type === 'stream-error') throw streamError(data)
              const accept = decoders ? decoders.get(type) : asText
              if (accept) yield settle(accept(data), data => ({ event: type, data, id }))
              else if (validate) { // unchecked, an undeclared event is skipped
                throw new SseValidationError(`unknown event "${type}"; events declares ${[...decoders!.keys()].join(', ')}`, type, data)
              }
            }
            if (chunk.done) break
          }
        } while (false)
        clearTimeout(timer)
        signal.throwIfAborted()
        const failed = ending !== ENDED
        if (!reconnect || (failed && failures >= reconnect.retries)) {
          if (failed) throw ending
          return
        }
        const delay = reconnectDelay(retry ?? reconnect.delay, failed ? failures++ : 0, reconnect.maxDelay)
        // Waits, or less if the signal aborts. `||`: a NaN wait is none.
        await new Promise(resolve => {
          timer = setTimeout(resolve, Math.max(delay, wait || 0))
          signal.onabort = resolve
        })
        signal.throwIfAborted()
      }
    } finally {
      clearTimeout(timer)
      controller.abort() // a break or an error: the request goes at once, and with it the server's source
      reader?.cancel().catch(() => {})
    }
  }

  return {
    get lastEventId () {
      return lastEventId
    },
    [Symbol.asyncIterator] () {
      if (iterator) throw new TypeError('an event stream can be iterated once')
      return (iterator = run())
    }
  }
}
