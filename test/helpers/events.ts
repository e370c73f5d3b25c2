// Reading streams that do not end by themselves: read events until the test has
// what it needs (with a deadline), then let go of the response.

import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser'

/** Reads one fetch response with eventsource-parser, a bit at a time. */
export class EventStreamReader {
  readonly events: EventSourceMessage[] = []
  readonly comments: string[] = []
  readonly retries: number[] = []
  /** The stream ended by itself (the server finished it, or the connection dropped). */
  ended = false
  /** Set when the body failed, e.g. the connection was cut. */
  error: unknown
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>
  private readonly parser: EventSourceParser
  private readonly decoder = new TextDecoder()

  constructor (response: Response) {
    if (response.body === null) throw new Error('the response has no body')
    this.reader = response.body.getReader()
    this.parser = createParser({
      onEvent: (event) => this.events.push(event),
      onComment: (comment) => this.comments.push(comment),
      onRetry: (retry) => this.retries.push(retry)
    })
  }

  /** Reads until `until(events)` holds or the stream ends; rejects after `timeoutMs`. */
  async readUntil (until: (events: EventSourceMessage[]) => boolean, timeoutMs = 10_000): Promise<EventSourceMessage[]> {
    let timedOut = false
    const deadline = setTimeout(() => {
      timedOut = true
      this.reader.cancel(new Error('timed out')).catch(() => {})
    }, timeoutMs)
    try {
      while (!this.ended && !until(this.events)) {
        let chunk
        try {
          chunk = await this.reader.read()
        } catch (err) {
          this.error = err
          this.ended = true
          break
        }
        if (chunk.done) {
          this.ended = true
          break
        }
        this.parser.feed(this.decoder.decode(chunk.value, { stream: true }))
      }
    } finally {
      clearTimeout(deadline)
    }
    if (timedOut) throw new Error(`timed out after ${timeoutMs} ms; events so far: ${JSON.stringify(this.events)}`)
    return this.events
  }

  /** Reads to the end of the stream (rejects after `timeoutMs`). */
  async readToEnd (timeoutMs = 10_000): Promise<EventSourceMessage[]> {
    return this.readUntil(() => false, timeoutMs)
  }

  /** Lets go of the response: the client leaves. */
  async cancel (): Promise<void> {
    if (!this.ended) await this.reader.cancel().catch(() => {})
    this.ended = true
  }
}

/** Reads events until `until` holds, then leaves; throws if the stream ends or time runs out first. */
export async function takeEvents (response: Response, until: (events: EventSourceMessage[]) => boolean, timeoutMs = 10_000): Promise<EventSourceMessage[]> {
  const reader = new EventStreamReader(response)
  try {
    const events = await reader.readUntil(until, timeoutMs)
    if (!until(events)) throw new Error(`the stream ended first; events: ${JSON.stringify(events)}`)
    return events
  } finally {
    await reader.cancel()
  }
}

/** Polls `check` until it returns something other than undefined or false; rejects after `timeoutMs`. */
export async function waitFor<T> (what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}
