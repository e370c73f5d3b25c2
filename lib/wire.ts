// Event items to the bytes of the WHATWG "Server-sent events" format, and the
// framing rules that keep a value from injecting lines. Pure functions: no
// sockets, no Fastify.

const LINE_BREAK = /\r\n|\r|\n/
const HAS_LINE_BREAK = /[\r\n]/
const FORBIDDEN_IN_FIELD = /[\r\n\0]/

/** Why an item cannot be written; nothing of it has been written. */
export class InvalidItem extends Error {
  readonly details: unknown
  constructor (message: string, details?: unknown) {
    super(message)
    this.details = details
  }
}

/** One `prefix` line per line of text: CR, LF and CRLF all end a line, as for every SSE parser. */
function prefixedLines (prefix: string, text: string): string {
  if (!HAS_LINE_BREAK.test(text)) return prefix + text + '\n'
  let out = ''
  for (const line of text.split(LINE_BREAK)) out += prefix + line + '\n'
  return out
}

/** `data` as text: one `data:` line per line, so a spec parser gives the text back (breaks as LF). */
export function dataLines (text: string): string {
  return prefixedLines('data: ', text)
}

/** A comment: one `:` line per line of text. No blank line follows, so no client sees an event. */
export function commentLines (text: string): string {
  return prefixedLines(': ', text)
}

/** The heartbeat: a bare comment line. */
export const HEARTBEAT = ':\n'

/** What `retry` and a number `id` must be. */
export function isNonNegativeInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

/** `retry: N` on its own, for the start of a stream. */
export function retryLine (retry: number): string {
  return 'retry: ' + retry + '\n'
}

/** Whether a string can be a field value: no CR, LF or NUL, and valid UTF-16 (so it survives UTF-8). */
export function isFieldValue (value: string): boolean {
  return !FORBIDDEN_IN_FIELD.test(value) && value.isWellFormed()
}

/**
 * The `data:` lines of an event: a string as text, anything else as one line of JSON
 * (JSON escapes line breaks, so it needs no splitting).
 */
export function dataField (data: unknown): string {
  if (typeof data === 'string') {
    if (!data.isWellFormed()) throw new InvalidItem('string data contains a lone surrogate, which UTF-8 cannot carry')
    return dataLines(data)
  }
  if (data === undefined) throw new InvalidItem('an event needs data')
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (err) {
    throw new InvalidItem('data cannot be serialized as JSON: ' + (err as Error).message)
  }
  if (json === undefined) throw new InvalidItem('data cannot be serialized as JSON: ' + typeof data)
  return 'data: ' + json + '\n'
}

/** `event:` lines of names already checked, so a stream without schemas checks each name once. */
const eventLines = new Map<string, string>()
const MAX_EVENT_LINES = 1024

/** The `event:` line of a name; none for `message`. */
export function eventField (name: unknown): string {
  if (name === undefined || name === 'message') return ''
  if (typeof name !== 'string' || name === '') throw new InvalidItem('event must be a non-empty string without CR, LF or NUL')
  let line = eventLines.get(name)
  if (line === undefined) {
    if (!isFieldValue(name)) throw new InvalidItem('event must be a non-empty string without CR, LF or NUL')
    line = 'event: ' + name + '\n'
    if (eventLines.size < MAX_EVENT_LINES) eventLines.set(name, line)
  }
  return line
}

/**
 * One event, ending in its blank line: `eventLine` from eventField, `data` from dataField.
 * Throws InvalidItem for an id or retry that could break the framing.
 */
export function frameEvent (eventLine: string, id: unknown, retry: unknown, data: string): string {
  let out = eventLine
  if (id !== undefined) out += 'id: ' + formatId(id) + '\n'
  if (retry !== undefined) {
    if (!isNonNegativeInteger(retry)) throw new InvalidItem('retry must be a non-negative integer')
    out += retryLine(retry)
  }
  return out + data + '\n'
}

/** A position: the `id:` line and the blank line, which sets the client's last event id and dispatches nothing. */
export function positionLine (id: unknown): string {
  return 'id: ' + formatId(id) + '\n\n'
}

function formatId (id: unknown): string {
  if (typeof id === 'string') {
    if (!isFieldValue(id)) throw new InvalidItem('id must not contain CR, LF or NUL')
    return id
  }
  if (isNonNegativeInteger(id)) return String(id)
  throw new InvalidItem('id must be a string or a non-negative safe integer')
}
