// eventStream(url, options): a stream of typed events over fetch, for any method,
// that reconnects like EventSource where that is safe. Browser-safe: only fetch,
// AbortController, TextDecoder and setTimeout.

import { eventDecoders, type Accept } from './decode.js'
import { SseHttpError, SseValidationError, streamError } from './errors.js'
import { eventParser, type Dispatch } from './parse.js'
import { reconnectDelay, reconnectPolicy } from './reconnect.js'
import type { EventStream, EventStreamOptions, SseClientEvent, SseClientEvents, SseClientItem, SseUntypedEvent } from './types.js'

/** One block the parser dispatched: type, data (`undefined` for a position), and its own id. */
type Block = Parameters<Dispatch>

/** How one response ended: the stream is over, the response ended, or it failed (and may be retried after `wait`). */
type Ending = 'done' | 'ended' | Failure

interface Failure {
  error: unknown
  /** The least wait the server asked for (`retry-after`), in ms. */
  wait?: number
}
/** What itemOf returns for the server's end marker (`event: end`, `data: [DONE]`) or the `done` sentinel. */
const SENTINEL = {}

/**
 * The events of `url`, decoded, checked against `events` and typed from it; without
 * `events`, each event's data is its text. Iterate it once with `for await`.
 */
export function eventStream<Events extends SseClientEvents> (url: string | URL, options: EventStreamOptions<Events> & { events: Events }): EventStream<SseClientItem<Events>>
export function eventStream (url: string | URL, options?: EventStreamOptions<undefined>): EventStream<SseUntypedEvent>
export function eventStream (url: string | URL, options: EventStreamOptions = {}): EventStream<SseClientEvent> {
  if (typeof url !== 'string' && !(url instanceof URL)) throw new TypeError('eventStream() needs a URL')
  const { events, validate = true, done, signal: outer, lastEventId: resumeFrom = '', heartbeatTimeout = 45_000 } = options
  if (!(heartbeatTimeout >= 0)) throw new TypeError('heartbeatTimeout must be a number of ms (0: none)')
  const fetch = options.fetch ?? globalThis.fetch
  if (typeof fetch !== 'function') throw new TypeError('no fetch: pass options.fetch')
  const method = (options.method ?? 'GET').toUpperCase()
  const reconnect = reconnectPolicy(options.reconnect, method)
  const init = requestInit(method, options, reconnect !== undefined)
  const decoders = events === undefined ? undefined : eventDecoders(events, validate)
  const href = String(url)

  let lastEventId = resumeFrom
  /** The server's reconnection time (`retry:`), once it sent one. */
  let retry: number | undefined
  let started = false

  async function * run (): AsyncGenerator<SseClientEvent, void, undefined> {
    const controller = new AbortController()
    const abort = (): void => controller.abort(outer?.reason)
    if (outer?.aborted === true) throw outer.reason
    outer?.addEventListener('abort', abort, { once: true })
    const { signal } = controller
    let failures = 0
    try {
      while (true) {
        const ending = yield * connect(signal, () => { failures = 0 })
        if (signal.aborted) throw signal.reason
        if (ending === 'done') return
        const failure = ending === 'ended' ? undefined : ending
        if (reconnect === undefined || (failure !== undefined && failures >= reconnect.retries)) {
          if (failure !== undefined) throw failure.error
          return
        }
        const wait = reconnectDelay(retry ?? reconnect.delay, failure === undefined ? 0 : failures++, reconnect.maxDelay)
        await sleep(Math.max(wait, failure?.wait || 0), signal) // `||`: a NaN wait is none
        if (signal.aborted) throw signal.reason
      }
    } finally {
      outer?.removeEventListener('abort', abort)
      controller.abort() // a break or an error: the request goes at once, and with it the server's source
    }
  }

  /** One request and its response, read to its end. `opened` is called once the response is an event stream. */
  async function * connect (signal: AbortSignal, opened: () => void): AsyncGenerator<SseClientEvent, Ending, undefined> {
    // fetch takes header values of characters up to U+00FF only: an id with others goes
    // as its UTF-8 bytes, one character each (the old idiom below), as the server decodes it.
    if (lastEventId !== '') init.headers.set('last-event-id', unescape(encodeURIComponent(lastEventId)))
    let response: Response
    try {
      response = await fetch(href, { ...init, signal })
    } catch (error) {
      return { error }
    }
    const { status, body } = response
    if (status === 204) return 'done' // the server's "do not come back"
    if (!response.ok) return refused(response, signal)
    const type = response.headers.get('content-type') ?? ''
    if (!/^text\/event-stream\s*(;|$)/i.test(type) || body === null) {
      await body?.cancel().catch(() => {})
      throw new SseHttpError(`expected text/event-stream, got ${type === '' ? 'no content type' : type}`, status, '')
    }
    opened()
    return yield * read(body)
  }

  async function * read (body: ReadableStream<Uint8Array>): AsyncGenerator<SseClientEvent, Ending, undefined> {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    const blocks: Block[] = []
    const parser = eventParser((...block) => { blocks.push(block) }, (ms) => { retry = ms })
    // One timer per response, not per chunk: it looks at when the last bytes came.
    let heard = Date.now()
    let silent = false
    let timer = heartbeatTimeout > 0 ? setTimeout(listen, heartbeatTimeout) : undefined
    function listen (): void {
      const quiet = Date.now() - heard
      if (quiet < heartbeatTimeout) timer = setTimeout(listen, heartbeatTimeout - quiet)
      else {
        silent = true // a silent network path never ends on its own: end it
        reader.cancel().catch(() => {})
      }
    }
    try {
      while (true) {
        let chunk
        try {
          chunk = await reader.read()
        } catch (error) {
          return { error } // the connection was cut
        }
        if (silent) return { error: new Error(`nothing received for ${heartbeatTimeout} ms`) }
        heard = Date.now()
        parser.feed(decoder.decode(chunk.value, { stream: !chunk.done }))
        if (chunk.done) parser.end()
        // One at a time: a consumer that breaks leaves the rest unread.
        for (let block = blocks.shift(); block !== undefined; block = blocks.shift()) {
          const [type, data, id] = block
          if (id !== undefined) lastEventId = id // an id persists for the events after it, as in EventSource
          if (data === undefined) continue // a position: it only moves the last event id
          const item = itemOf(type, data, id)
          if (item === SENTINEL) return 'done'
          if (item !== undefined) yield item instanceof Promise ? await item : item
        }
        if (chunk.done) return 'ended'
      }
    } finally {
      clearTimeout(timer)
      reader.cancel().catch(() => {})
    }
  }

  /** One event as an item; SENTINEL for the end marker or the `done` sentinel, undefined for an undeclared event when nothing is checked. */
  function itemOf (type: string, data: string, id: string | undefined): SseClientEvent | Promise<SseClientEvent> | typeof SENTINEL | undefined {
    if (type === 'end' ? data === '[DONE]' : data === done && type === 'message') return SENTINEL
    if (type === 'stream-error') throw streamError(data)
    if (decoders === undefined) return { event: type, data, id }
    const accept: Accept | undefined = decoders.get(type)
    if (accept === undefined) {
      if (validate === false) return undefined
      throw new SseValidationError(`unknown event "${type}"; events declares ${[...decoders.keys()].join(', ')}`, type, data)
    }
    const value = accept(data)
    return value instanceof Promise ? value.then(value => ({ event: type, data: value, id })) : { event: type, data: value, id }
  }

  return {
    get lastEventId () {
      return lastEventId
    },
    [Symbol.asyncIterator] () {
      if (started) throw new TypeError('an event stream can be iterated once')
      started = true
      return run()
    }
  }
}

/** The request's method, headers, body and credentials; an object body becomes JSON. */
function requestInit (method: string, { headers: given, body, credentials }: EventStreamOptions, reconnects: boolean): RequestInit & { headers: Headers } {
  const headers = new Headers(given)
  if (!headers.has('accept')) headers.set('accept', 'text/event-stream')
  const prototype = typeof body === 'object' && body !== null ? Object.getPrototypeOf(body) : undefined
  if (prototype === Object.prototype || prototype === null || Array.isArray(body)) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/json')
    body = JSON.stringify(body)
  } else if (reconnects && typeof (body as ReadableStream | undefined)?.getReader === 'function') {
    throw new TypeError('a stream body cannot be sent again on a reconnect: set reconnect: false')
  }
  return { method, headers, credentials, body: body as RequestInit['body'] }
}

/** A status other than 2xx: 408, 429 and 5xx may be retried (after the server's `retry-after`); any other is final. */
async function refused (response: Response, signal: AbortSignal): Promise<Failure> {
  const { status } = response
  const body = await response.text().catch(() => '')
  if (signal.aborted) throw signal.reason
  const error = new SseHttpError(`the server answered ${status}`, status, body)
  if (status !== 408 && status !== 429 && status < 500) throw error
  const retryAfter = Number(response.headers.get('retry-after')) // seconds (NaN, so no wait, for a date)
  return { error, wait: retryAfter * 1000 }
}

/** Waits `ms`, or less if the signal aborts (the caller then checks it). */
function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(wake, ms)
    signal.addEventListener('abort', wake)
    function wake (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', wake)
      resolve()
    }
  })
}
