// The request's Last-Event-ID header to a safe string, or undefined.
// Browsers send the id as UTF-8 bytes; Node hands header values over as latin1.

const MAX_BYTES = 1024
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/
const FORBIDDEN = /[\0\r\n]/
const BEYOND_LATIN1 = /[^\x00-\xff]/ // eslint-disable-line no-control-regex
const utf8 = new TextDecoder('utf-8', { fatal: true })

export function parseLastEventId (header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || header === '') return undefined
  if (PRINTABLE_ASCII.test(header)) return header.length <= MAX_BYTES ? header : undefined
  let text: string
  if (BEYOND_LATIN1.test(header)) {
    // Already decoded by the server (some HTTP/2 paths): check it as it is.
    if (Buffer.byteLength(header) > MAX_BYTES || !header.isWellFormed()) return undefined
    text = header
  } else {
    if (header.length > MAX_BYTES) return undefined
    try {
      text = utf8.decode(Buffer.from(header, 'latin1'))
    } catch {
      return undefined
    }
  }
  return FORBIDDEN.test(text) ? undefined : text
}
