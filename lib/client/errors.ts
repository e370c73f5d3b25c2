// The client's errors, one class per way a stream can fail. Each is thrown from
// the stream's iterator (or passed to typedEventSource's onError) and never retried.

/** The server ended the stream with its failure event, `event: stream-error`. */
export class SseStreamError extends Error {
  override name = 'SseStreamError'
}

/** The server answered with something other than an event stream: a 4xx, or after the retries, a 5xx. */
export class SseHttpError extends Error {
  override name = 'SseHttpError'
  /** The response's status. */
  declare readonly status: number
  /** The response's body, as text. */
  declare readonly body: string

  constructor (message: string, status: number, body: string) {
    super(message)
    this.status = status
    this.body = body
  }
}

/** An event the client cannot accept: a name `events` does not declare, data that is not JSON, or data that fails its schema. */
export class SseValidationError extends Error {
  override name = 'SseValidationError'
  /** The event's name. */
  declare readonly event: string
  /** The event's data, as it arrived. */
  declare readonly data: string
  /** Why the data failed its schema, when the schema says (Standard Schema issues). */
  declare readonly issues: readonly unknown[]

  constructor (message: string, event: string, data: string, issues: readonly unknown[] = []) {
    super(message)
    this.event = event
    this.data = data
    this.issues = issues
  }
}

/** The plugin's failure event's data is `{ "message": ... }`; anything else is shown as it came. */
export function streamError (data: string): SseStreamError {
  try {
    const { message } = JSON.parse(data)
    if (typeof message === 'string') return new SseStreamError(message)
  } catch {}
  return new SseStreamError(data)
}
