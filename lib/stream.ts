// One stream's life: headers, the pull loop with backpressure, the send timeout,
// teardown, the failure event and the done sentinel. It owns the AbortController
// handed to the source.

import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { OutgoingHttpHeaders } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import type { SseEndReason } from '../types/index.js'
import { FST_SSE_INVALID_EVENT, FST_SSE_INVALID_SOURCE, FST_SSE_REPLY_SENT, FST_SSE_TOO_MANY_STREAMS } from './errors.js'
import type { Beating, Heartbeat } from './heartbeat.js'
import { parseLastEventId } from './last-event-id.js'
import type { StreamSettings } from './options.js'
import { encodeItem } from './encode.js'
import { isPushable, kPushable, kPushing, type PushListener, type PushSink } from './push.js'
import { StreamSourceContext, isEndless, type SignalOwner } from './source-context.js'
import type { EventValidators } from './schemas.js'
import type { Sending, SendTimeouts } from './send-timeout.js'
import type { StreamStats } from './stats.js'
import { HEARTBEAT, InvalidItem, dataField, dataLines, eventField, frameEvent, retryLine } from './wire.js'

/** What every stream of one plugin registration shares. */
export interface StreamRegistry {
  readonly heartbeat: Heartbeat
  readonly sendTimeouts: SendTimeouts
  readonly stats: StreamStats
  readonly open: Set<SseStream>
  /** 0: no limit. */
  readonly maxStreams: number
}

/** Where a response keeps its stream, for the listeners all streams share. */
const kStream = Symbol('fastify-typed-sse.stream')

/** What the stream uses of a response; http's ServerResponse and http2's compat response both have it. */
interface RawResponse {
  [kStream]?: SseStream | undefined
  readonly destroyed: boolean
  /** Bytes written but not yet taken by the socket (or, on HTTP/2, by the peer's window). */
  readonly writableLength: number
  writeHead (status: number, headers: OutgoingHttpHeaders): unknown
  flushHeaders? (): void
  write (chunk: string | Buffer): boolean
  end (chunk?: string): unknown
  destroy (): unknown
  on (event: string, listener: (...args: any[]) => void): unknown
  off (event: string, listener: (...args: any[]) => void): unknown
}
type SourceIterator = Iterator<unknown> | AsyncIterator<unknown>

/** Events a source yields within one tick are written together, up to this many characters. */
const COALESCE_LIMIT = 16 * 1024

/** The message of the failure event for errors not marked safe to show. */
const GENERIC_FAILURE = 'Internal Server Error'
const FAILURE_EVENT = 'stream-error'
/** The last block of a stream whose source finished on its own (api.md rule 8): not a cut, do not reconnect. */
const END_MARKER = 'event: end\ndata: [DONE]\n\n'

/** What the source's signal says when the stream ends, by reason. */
const ABORT_MESSAGES: Record<SseEndReason, string> = {
  finished: 'The stream finished',
  clientGone: 'The client disconnected',
  failed: 'The source failed',
  invalidEvent: 'An invalid event ended the stream',
  stalled: 'The client stopped reading',
  shutdown: 'The server is closing'
}

function abortError (reason: SseEndReason): DOMException {
  return new DOMException(ABORT_MESSAGES[reason], 'AbortError')
}

/** retry-after (seconds) of a stream refused by maxStreams, when the stream sets no retry. */
const REFUSED_RETRY_AFTER = 3

const CONNECTION_CLOSE = /(?:^|,)\s*close\s*(?:,|$)/i

/**
 * Starts streaming `source` on `reply`. Throws, before anything is sent, when the
 * reply was already sent, the registration has maxStreams open, or the source is
 * not iterable; after that every failure is logged and ends the stream.
 */
export function startStream (reply: FastifyReply, source: unknown, settings: StreamSettings, validators: EventValidators | undefined, registry: StreamRegistry): void {
  if (reply.sent || reply.raw.headersSent) throw new FST_SSE_REPLY_SENT()
  if (registry.maxStreams > 0 && registry.open.size >= registry.maxStreams && reply.request.method !== 'HEAD') {
    registry.stats.rejected++
    // The client's Fastify error reply keeps the headers set on the reply.
    reply.header('retry-after', settings.retry === undefined ? REFUSED_RETRY_AFTER : Math.max(1, Math.ceil(settings.retry / 1000)))
    throw new FST_SSE_TOO_MANY_STREAMS(registry.maxStreams)
  }
  const stream = new SseStream(reply, settings, validators, registry)
  if (reply.request.method === 'HEAD') stream.head(reply, source)
  else stream.start(reply, source)
}

export class SseStream implements Beating, SignalOwner, Sending, PushSink {
  private readonly raw: RawResponse
  private readonly log: FastifyBaseLogger
  private readonly settings: StreamSettings
  private readonly validators: EventValidators | undefined
  private readonly registry: StreamRegistry
  /** Made only when a source function reads its context's `signal` (StreamSourceContext). */
  private controller: AbortController | undefined
  /** Why the stream ended, for a signal first asked for after the end. */
  private endReason: SseEndReason | undefined
  private iterator: SourceIterator | undefined
  /** A pushable source (push.ts), told when the socket drained. */
  private pushListener: PushListener | undefined
  /** The pull loop runs; it stops while a pushable source writes to the stream itself. */
  private pulling = false
  /** pull() was called since the loop last called next(): a `PUSHING` answer is stale, read on. */
  private pullAgain = false
  /** The iterator finished, threw, or was returned: never call return() on it (again). */
  private iteratorSettled = false
  /** The source never finishes on its own (a hub subscription): its end is a cut, with no end marker. */
  private endless = false
  /** Nothing more is pulled or written. */
  private ended = false
  /** Bytes held back to be written with the next events of this tick. */
  private pending = ''
  private flushQueued = false
  private needDrain = false
  private wakeUp: (() => void) | undefined
  /** Wrote since the last heartbeat tick. */
  private active = false
  /** When the send-timeout check first saw the stream waiting without progress; -1: not waiting. */
  private waitingSince = -1
  /** What the socket still held then: less at a later check is progress. */
  private queuedWhenWaiting = 0
  /** Kept only when someone listens on the close channel, for its message. */
  private request: FastifyRequest | undefined
  private events = 0
  private bytes = 0

  constructor (reply: FastifyReply, settings: StreamSettings, validators: EventValidators | undefined, registry: StreamRegistry) {
    this.raw = reply.raw as unknown as RawResponse
    this.log = reply.log
    this.settings = settings
    // Validation off: only the framing rules hold, as for a route without schemas.
    this.validators = settings.validate ? validators : undefined
    this.registry = registry
  }

  /** HEAD: the headers, and the source is never started (an iterator handed over is released). */
  head (reply: FastifyReply, source: unknown): void {
    if (typeof source !== 'function') {
      const iterator = source as Partial<SourceIterator> | null
      if (iterator !== null && typeof iterator === 'object' && typeof iterator.return === 'function') {
        this.iterator = iterator as SourceIterator
        this.returnIterator()
      }
    }
    reply.hijack()
    writeHead(reply)
    this.raw.end()
  }

  /** The source's signal, made on its first use; already aborted if the stream has ended. */
  signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.endReason !== undefined) this.controller.abort(abortError(this.endReason))
    }
    return this.controller.signal
  }

  start (reply: FastifyReply, source: unknown): void {
    try {
      let iterable = source
      if (typeof source === 'function') {
        this.endless = isEndless(source)
        iterable = source(new StreamSourceContext(this, parseLastEventId(reply.request.headers['last-event-id'])))
      }
      this.iterator = iteratorOf(iterable)
    } catch (err) {
      this.controller?.abort(err) // a source function may have started something with the signal
      throw err
    }

    reply.hijack()
    writeHead(reply)
    // The headers leave at the end of this tick: in one write with the first events
    // when the source has some ready, else on their own.
    if (this.settings.retry !== undefined) this.pending = retryLine(this.settings.retry)
    this.flushQueued = true
    process.nextTick(flushPending, this)

    const raw = this.raw
    raw[kStream] = this
    raw.on('close', onResponseClose)
    raw.on('error', onResponseError)
    raw.on('drain', onResponseDrain)
    this.registry.open.add(this)
    this.request = this.registry.stats.streamOpened(reply.request)
    if (raw.destroyed) {
      this.clientGone()
      return
    }
    this.registry.heartbeat.add(this, this.settings.heartbeatInterval)
    this.registry.sendTimeouts.add(this, this.settings.sendTimeout)
    // A source that can write to the stream itself gets the stream as its sink, once.
    if (isPushable(this.iterator)) this.pushListener = this.iterator[kPushable](this)
    this.pull()
  }

  /** Starts the pull loop; PushSink: a source that pushed wants to be read through next() again. */
  pull (): void {
    if (this.ended) return
    if (this.pulling) {
      this.pullAgain = true
      return
    }
    this.pulling = true
    this.pump(this.iterator as SourceIterator).catch((err: unknown) => this.log.error({ err }, 'SSE stream failed'))
  }

  /** The server is closing: end the response now, or drop it if the client cannot take it in. */
  shutdown (): void {
    if (this.ended) return
    if (this.needDrain) {
      this.teardown('shutdown')
      this.raw.destroy()
    } else {
      this.end('', 'shutdown')
    }
    // HTTP/2: say GOAWAY, so the client's session closes once its streams are done. Node 24 does
    // this on server.close(); before it an idle session keeps app.close() waiting for its timeout.
    const { stream } = this.raw as Partial<Http2ServerResponse>
    stream?.session?.close()
  }

  beat (): void {
    if (this.active) {
      this.active = false
    } else if (!this.needDrain && !this.ended) {
      this.counted(HEARTBEAT.length)
      if (!this.raw.write(HEARTBEAT)) this.needDrain = true
    }
  }

  /**
   * The send timeout: while the stream waits for 'drain', any shrinking of what the
   * socket holds is progress; none for the whole sendTimeout drops the stream.
   */
  checkSend (now: number, late: boolean): void {
    if (!this.needDrain || this.ended) return
    const queued = this.raw.writableLength
    if (this.waitingSince < 0 || queued < this.queuedWhenWaiting || late) {
      this.waitingSince = now
      this.queuedWhenWaiting = queued
    } else if (now - this.waitingSince >= this.settings.sendTimeout) {
      this.stalled()
    }
  }

  private async pump (iterator: SourceIterator): Promise<void> {
    try {
      while (true) {
        if (this.needDrain) await new Promise<void>(resolve => { this.wakeUp = resolve })
        if (this.ended) return
        this.pullAgain = false
        const result = await iterator.next()
        if (this.ended) return
        if (result.done === true) {
          this.iteratorSettled = true
          this.finish()
          return
        }
        if (result.value === kPushing) {
          // The source writes to the stream itself now; pull() starts the loop again.
          if (this.pullAgain) continue
          this.pulling = false
          return
        }
        this.push(result.value)
      }
    } catch (err) {
      this.iteratorSettled = true
      if (this.ended) {
        this.log.debug({ err }, 'SSE source threw after its stream ended')
      } else {
        this.log.error({ err }, 'SSE source failed')
        this.end(this.failureEvent(err), 'failed')
      }
    }
  }

  private push (item: unknown): void {
    let chunk: string
    try {
      chunk = encodeItem(item, this.validators)
    } catch (err) {
      if (!(err instanceof InvalidItem)) throw err
      this.reject(item, err)
      return
    }
    // Counted from the item, not the chunk: reading a character of a joined string would flatten it.
    if ((item as { comment?: unknown }).comment === undefined) {
      this.events++
      this.registry.stats.events++
    }
    this.send(chunk)
  }

  /** An invalid item: nothing of it was written; log it, then skip it or end the stream. */
  private reject (item: unknown, problem: InvalidItem): void {
    const name = (item as { event?: unknown } | null)?.event ?? 'message'
    const err = new FST_SSE_INVALID_EVENT(problem.message)
    this.registry.stats.invalidEvents++
    this.log.error({ err, event: name, errors: problem.details }, `Invalid SSE event ${JSON.stringify(name)}: ${problem.message}`)
    if (this.settings.onInvalidEvent === 'end') this.end(this.failureEvent(err), 'invalidEvent')
  }

  /**
   * The last event of a failed stream: the stream's `failure` item, framed but not
   * checked against the route's schemas, or else `stream-error`.
   */
  private failureEvent (err: unknown): string {
    const failure = this.settings.failure
    if (failure !== undefined) {
      try {
        return encodeItem(failure(err), undefined)
      } catch (problem) {
        this.log.error({ err: problem }, 'The failure option of an SSE stream failed; sending stream-error instead')
      }
    }
    return defaultFailureEvent(err)
  }

  private send (chunk: string): void {
    this.active = true
    if (this.pending === '') {
      this.pending = chunk
      if (!this.flushQueued) {
        this.flushQueued = true
        process.nextTick(flushPending, this)
      }
    } else {
      this.pending += chunk
    }
    if (this.pending.length >= COALESCE_LIMIT) this.flush()
  }

  private flush (): void {
    if (this.pending === '' || this.ended) return
    const chunk = this.pending
    this.pending = ''
    this.counted(Buffer.byteLength(chunk))
    if (!this.raw.write(chunk)) this.needDrain = true
  }

  /** PushSink: whether write() would write now. */
  get writable (): boolean {
    return !this.ended && !this.needDrain
  }

  /**
   * PushSink: `events` framed events a pushable source writes itself, after what this
   * stream holds back. Counted, and marks the stream active, like the events it pulls.
   */
  write (chunk: Buffer, events: number): boolean {
    if (this.ended || this.needDrain) return false
    if (this.pending !== '') {
      this.flush()
      if (this.needDrain) return false
    }
    this.active = true
    this.events += events
    this.registry.stats.events += events
    this.counted(chunk.length)
    if (!this.raw.write(chunk)) this.needDrain = true
    return true
  }

  private counted (bytes: number): void {
    this.bytes += bytes
    this.registry.stats.bytes += bytes
  }

  /** The flush queued by start() or send(), at the end of the tick. */
  flushQueuedWrites (): void {
    this.flushQueued = false
    if (this.pending !== '') this.flush()
    else if (!this.active && !this.ended) this.raw.flushHeaders?.() // nothing written yet: the headers alone
  }

  /**
   * The source finished: its end marker, the `done` sentinel if asked for, else `event: end`;
   * none when an endless source (a hub subscription) returns, which is a cut.
   */
  private finish (): void {
    const { done, endMarker } = this.settings
    const tail = this.endless ? '' : done !== undefined ? dataLines(done) + '\n' : endMarker ? END_MARKER : ''
    this.end(tail, 'finished')
  }

  /**
   * Writes what is held back plus `tail` (the end marker or the failure event, an
   * event either way), ends the response, and tears the stream down.
   */
  private end (tail: string, reason: SseEndReason): void {
    const last = this.pending + tail
    this.pending = ''
    if (tail !== '') {
      this.events++
      this.registry.stats.events++
    }
    if (last !== '') this.counted(Buffer.byteLength(last))
    this.teardown(reason)
    if (last === '') this.raw.end()
    else this.raw.end(last)
  }

  clientGone (): void {
    if (this.ended) return
    this.pending = ''
    this.teardown('clientGone')
  }

  /** Rule 13: the client accepted nothing for sendTimeout; drop the response. */
  private stalled (): void {
    this.log.info({ sendTimeout: this.settings.sendTimeout }, `SSE client accepted nothing for ${this.settings.sendTimeout} ms: stream dropped`)
    this.pending = ''
    this.teardown('stalled')
    this.raw.destroy()
  }

  responseFailed (err: Error): void {
    this.log.debug({ err }, 'SSE response failed')
    this.clientGone()
  }

  drained (): void {
    this.needDrain = false
    this.waitingSince = -1
    this.wake()
    this.pushListener?.drained()
  }

  private wake (): void {
    const wakeUp = this.wakeUp
    if (wakeUp !== undefined) {
      this.wakeUp = undefined
      wakeUp()
    }
  }

  /** Stops everything the stream holds: the heartbeat, its listeners, the pull loop, the source. */
  private teardown (reason: SseEndReason): void {
    this.ended = true
    this.registry.open.delete(this)
    this.registry.heartbeat.remove(this, this.settings.heartbeatInterval)
    this.registry.sendTimeouts.remove(this, this.settings.sendTimeout)
    this.registry.stats.streamClosed(this.request, reason, this.events, this.bytes)
    this.request = undefined
    this.raw.off('close', onResponseClose)
    this.raw.off('error', onResponseError)
    this.raw.off('drain', onResponseDrain)
    this.raw[kStream] = undefined
    this.pushListener = undefined
    this.wake()
    this.endReason = reason
    this.controller?.abort(abortError(reason))
    this.returnIterator()
  }

  /** Calls the source iterator's return() once, unless it already finished or threw. */
  private returnIterator (): void {
    const iterator = this.iterator
    if (this.iteratorSettled || iterator === undefined) return
    this.iteratorSettled = true
    if (typeof iterator.return !== 'function') return
    try {
      const result = iterator.return() as unknown
      if (result instanceof Promise) result.catch((err: unknown) => this.returnFailed(err))
    } catch (err) {
      this.returnFailed(err)
    }
  }

  private returnFailed (err: unknown): void {
    this.log.error({ err }, 'SSE source failed while closing')
  }
}

/** The stream's status and headers, keeping those set earlier on the reply. */
function writeHead (reply: FastifyReply): void {
  const request = reply.request.raw
  const headers = reply.getHeaders() as OutgoingHttpHeaders
  delete headers['content-length']
  delete headers['transfer-encoding']
  headers['content-type'] = 'text/event-stream; charset=utf-8'
  headers['cache-control'] = 'no-cache, no-transform'
  headers['x-accel-buffering'] = 'no'
  if (request.httpVersionMajor !== 1) {
    delete headers.connection // HTTP/2 forbids connection-specific headers
  } else if (request.httpVersionMinor === 1 && !CONNECTION_CLOSE.test(request.headers.connection ?? '')) {
    headers.connection = 'keep-alive'
  }
  (reply.raw as unknown as RawResponse).writeHead(200, headers)
}

// The response's listeners are shared by all streams (no closures per stream): each
// finds its stream through the response.
function onResponseClose (this: RawResponse): void {
  this[kStream]?.clientGone()
}

function onResponseError (this: RawResponse, err: Error): void {
  this[kStream]?.responseFailed(err)
}

function onResponseDrain (this: RawResponse): void {
  this[kStream]?.drained()
}

function flushPending (stream: SseStream): void {
  stream.flushQueuedWrites()
}

function iteratorOf (iterable: unknown): SourceIterator {
  if ((typeof iterable === 'object' && iterable !== null) || typeof iterable === 'function') {
    const candidate = iterable as Partial<AsyncIterable<unknown> & Iterable<unknown>>
    const asyncIterator = candidate[Symbol.asyncIterator]
    if (typeof asyncIterator === 'function') return asyncIterator.call(candidate)
    const syncIterator = candidate[Symbol.iterator]
    if (typeof syncIterator === 'function') return syncIterator.call(candidate)
  }
  throw new FST_SSE_INVALID_SOURCE(describe(iterable))
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (typeof (value as PromiseLike<unknown> | undefined)?.then === 'function') {
    return 'a Promise (pass an async generator function, not an async function)'
  }
  if (typeof value === 'string') return 'a string (yield event items such as { data: text })'
  return typeof value
}

/** The default failure event: the error's own message only when it is marked safe to show. */
function defaultFailureEvent (err: unknown): string {
  const error = err as { expose?: unknown, message?: unknown } | null | undefined
  const message = error?.expose === true && typeof error.message === 'string' ? error.message : GENERIC_FAILURE
  return frameEvent(eventField(FAILURE_EVENT), undefined, undefined, dataField({ message }))
}
