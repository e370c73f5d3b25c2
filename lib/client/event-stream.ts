// eventStream(url, options): a stream of typed events over fetch, for any method,
// that reconnects like EventSource where that is safe. Browser-safe: only fetch,
// AbortController, TextDecoder and setTimeout.

import { eventDecoders, type Accept } from './decode.js'
import { SseHttpError, SseValidationError, streamError } from './errors.js'
import { EventParser } from './parse.js'
import { reconnectDelay, reconnectPolicy, type ReconnectPolicy } from './reconnect.js'
import type { EventStream, EventStreamOptions, SseClientEvent, SseClientEvents, SseClientItem, SseSchemaCheck, SseUntypedEvent } from './types.js'

/** How much of an error response's body an SseHttpError keeps. */
const MAX_ERROR_BODY = 4096

interface Settings {
  url: string
  init: RequestInit
  fetch: (input: string, init: RequestInit) => Promise<Response>
  decoders: Map<string, Accept> | undefined
  validate: boolean | SseSchemaCheck
  done: string | undefined
  reconnect: ReconnectPolicy | undefined
  signal: AbortSignal | undefined
}

/** One block the parser dispatched, in order: an event, or (with `data` undefined) a position. */
interface Dispatched {
  type: string
  data: string | undefined
  id: string | undefined
  lastEventId: string
}

/** How one response ended. */
type Ending =
  | { kind: 'done' }
  | { kind: 'ended' }
  | { kind: 'failed', error: unknown, wait?: number }

/**
 * The events of `url`, decoded, checked against `events` and typed from it; without
 * `events`, each event's data is its text. Iterate it once with `for await`.
 */
export function eventStream<Events extends SseClientEvents> (url: string | URL, options: EventStreamOptions<Events> & { events: Events }): EventStream<SseClientItem<Events>>
export function eventStream (url: string | URL, options?: EventStreamOptions<undefined>): EventStream<SseUntypedEvent>
export function eventStream (url: string | URL, options: EventStreamOptions = {}): EventStream<SseClientEvent> {
  return new ClientStream(settingsOf(url, options), options.lastEventId ?? '')
}

class ClientStream implements EventStream<SseClientEvent> {
  lastEventId: string
  private readonly settings: Settings
  private started = false
  /** The server's reconnection time (`retry:`), once it sent one. */
  private retry: number | undefined

  constructor (settings: Settings, lastEventId: string) {
    this.settings = settings
    this.lastEventId = lastEventId
  }

  [Symbol.asyncIterator] (): AsyncIterator<SseClientEvent> {
    if (this.started) throw new TypeError('an event stream can be iterated once; call eventStream() again for another')
    this.started = true
    return this.run()
  }

  private async * run (): AsyncGenerator<SseClientEvent, void, undefined> {
    const { signal: outer, reconnect } = this.settings
    const controller = new AbortController()
    const abort = (): void => controller.abort(outer?.reason)
    if (outer?.aborted === true) throw outer.reason
    outer?.addEventListener('abort', abort, { once: true })
    const { signal } = controller
    let failures = 0
    try {
      while (true) {
        const ending = yield * this.connect(signal, () => { failures = 0 })
        if (signal.aborted) throw signal.reason
        if (ending.kind === 'done') return
        if (reconnect === undefined || (ending.kind === 'failed' && failures >= reconnect.retries)) {
          if (ending.kind === 'failed') throw ending.error
          return
        }
        const base = this.retry ?? reconnect.delay
        const wait = reconnectDelay(base, ending.kind === 'failed' ? failures++ : 0, reconnect.maxDelay)
        await sleep(Math.max(wait, ending.kind === 'failed' ? ending.wait ?? 0 : 0), signal)
      }
    } finally {
      outer?.removeEventListener('abort', abort)
      controller.abort() // a break or an error: the request goes at once, and with it the server's source
    }
  }

  /** One request and its response, read to its end. `opened` is called once the response is an event stream. */
  private async * connect (signal: AbortSignal, opened: () => void): AsyncGenerator<SseClientEvent, Ending, undefined> {
    const { url, init, fetch } = this.settings
    let response: Response
    try {
      response = await fetch(url, { ...init, headers: this.headers(), signal })
    } catch (error) {
      return { kind: 'failed', error }
    }
    if (response.status === 204) return { kind: 'done' } // the server's "do not come back"
    if (!response.ok) return this.refused(response, signal)
    const type = response.headers.get('content-type') ?? ''
    if (type.split(';')[0]!.trim().toLowerCase() !== 'text/event-stream' || response.body === null) {
      await response.body?.cancel().catch(() => {})
      throw new SseHttpError(`expected a text/event-stream response, got ${type === '' ? 'no content type' : type} (status ${response.status})`, response.status, '')
    }
    opened()
    return yield * this.read(response.body)
  }

  /** A status other than 2xx: 408, 429 and 5xx may be retried (after the server's `retry-after`); any other is final. */
  private async refused (response: Response, signal: AbortSignal): Promise<Ending> {
    const { status } = response
    const body = await response.text().then(text => text.slice(0, MAX_ERROR_BODY), () => '')
    if (signal.aborted) throw signal.reason
    const error = new SseHttpError(`the server answered ${status}${response.statusText === '' ? '' : ' ' + response.statusText}`, status, body)
    if (status !== 408 && status !== 429 && status < 500) throw error
    const retryAfter = response.headers.get('retry-after')
    return { kind: 'failed', error, wait: retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0 }
  }

  private async * read (body: ReadableStream<Uint8Array>): AsyncGenerator<SseClientEvent, Ending, undefined> {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    const queue: Dispatched[] = []
    const parser = new EventParser(this.lastEventId, {
      dispatch: (type, data, id, lastEventId) => { queue.push({ type, data, id, lastEventId }) },
      retry: (ms) => { this.retry = ms }
    })
    try {
      while (true) {
        let chunk
        try {
          chunk = await reader.read()
        } catch (error) {
          return { kind: 'failed', error } // the connection was cut
        }
        if (chunk.done) {
          parser.feed(decoder.decode())
          parser.end()
        } else {
          parser.feed(decoder.decode(chunk.value, { stream: true }))
        }
        // Taken one at a time: a consumer that breaks leaves the rest unread.
        for (let block = queue.shift(); block !== undefined; block = queue.shift()) {
          this.lastEventId = block.lastEventId
          if (block.data === undefined) continue // a position: it only moves the last event id
          const item = this.item(block.type, block.data, block.id)
          if (item === DONE) return { kind: 'done' }
          if (item !== SKIP) yield item instanceof Promise ? await item : item
        }
        if (chunk.done) return { kind: 'ended' }
      }
    } finally {
      reader.cancel().catch(() => {})
    }
  }

  /** One event as an item; DONE for the sentinel, SKIP for an undeclared event when nothing is checked. */
  private item (type: string, data: string, id: string | undefined): SseClientEvent | Promise<SseClientEvent> | typeof DONE | typeof SKIP {
    const { decoders, done, validate } = this.settings
    if (data === done && type === 'message') return DONE
    if (type === 'stream-error') throw streamError(data)
    if (decoders === undefined) return { event: type, data, id }
    const accept = decoders.get(type)
    if (accept === undefined) {
      if (validate === false) return SKIP
      throw new SseValidationError(`unknown event ${JSON.stringify(type)}; events declares ${[...decoders.keys()].map(name => JSON.stringify(name)).join(', ')}`, type, data)
    }
    const value = accept(data)
    return value instanceof Promise ? value.then(value => ({ event: type, data: value, id })) : { event: type, data: value, id }
  }

  private headers (): Headers {
    const headers = new Headers(this.settings.init.headers)
    if (!headers.has('accept')) headers.set('accept', 'text/event-stream')
    if (this.lastEventId !== '') headers.set('last-event-id', headerValue(this.lastEventId))
    return headers
  }
}

const DONE = Symbol('done')
const SKIP = Symbol('skip')

function settingsOf (url: string | URL, options: EventStreamOptions): Settings {
  if (typeof url !== 'string' && !(url instanceof URL)) throw new TypeError('eventStream() needs a URL (a string or a URL)')
  if (typeof options !== 'object' || options === null) throw new TypeError('eventStream() options must be an object')
  const { events, validate = true, method = 'GET', headers, body, credentials, signal, done, lastEventId } = options
  if (typeof method !== 'string' || method === '') throw new TypeError('method must be an HTTP method, e.g. \'GET\' or \'POST\'')
  if (typeof validate !== 'boolean' && typeof validate !== 'function') throw new TypeError('validate must be a boolean or a checker (schema, data) => boolean')
  if (done !== undefined && typeof done !== 'string') throw new TypeError('done must be a string, e.g. \'[DONE]\'')
  if (lastEventId !== undefined && typeof lastEventId !== 'string') throw new TypeError('lastEventId must be a string')
  if (signal !== undefined && typeof signal?.addEventListener !== 'function') throw new TypeError('signal must be an AbortSignal')
  const fetch = options.fetch ?? globalThis.fetch
  if (typeof fetch !== 'function') throw new TypeError('no fetch: pass options.fetch, or run where fetch is global')
  const upper = method.toUpperCase()
  const reconnect = reconnectPolicy(options.reconnect, upper)
  const init: RequestInit = { method: upper, headers, credentials }
  if (body !== undefined) {
    if (isJson(body)) {
      init.body = JSON.stringify(body)
      const withType = new Headers(headers)
      if (!withType.has('content-type')) withType.set('content-type', 'application/json')
      init.headers = withType
    } else {
      if (reconnect !== undefined && typeof (body as ReadableStream).getReader === 'function') {
        throw new TypeError('a stream body cannot be sent again on a reconnect: use reconnect: false, or a body that can')
      }
      init.body = body as RequestInit['body']
    }
  }
  return {
    url: String(url),
    init,
    fetch,
    decoders: events === undefined ? undefined : eventDecoders(events, validate),
    validate,
    done,
    reconnect,
    signal
  }
}

/** A plain object or an array: sent as JSON. */
function isJson (body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false
  const prototype = Object.getPrototypeOf(body)
  return prototype === Object.prototype || prototype === null || Array.isArray(body)
}

/**
 * A header value carries bytes, and fetch takes only characters up to U+00FF: an id
 * with other characters goes as its UTF-8 bytes, which is how the server decodes it.
 */
function headerValue (id: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007f]*$/.test(id)) return id
  let bytes = ''
  for (const byte of new TextEncoder().encode(id)) bytes += String.fromCharCode(byte)
  return bytes
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort)
      resolve()
    }, ms)
    signal.addEventListener('abort', abort, { once: true })
  })
}
