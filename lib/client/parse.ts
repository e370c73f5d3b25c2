// The event stream format's parsing rules (WHATWG HTML, "Server-sent events",
// interpreting an event stream), for text already decoded from UTF-8.
//
// Written here rather than taken from eventsource-parser because the client needs
// one thing that parser does not report: a block with an `id:` and no data (the
// hub's position item). The spec sets the last event id from it and dispatches
// nothing; eventsource-parser 3 drops the block, id and all.

const LINE_END = /\r\n|\r|\n/g
const DIGITS = /^\d+$/

/**
 * Called when a blank line ends a block: `data` is `undefined` when the block had no
 * data line (nothing to dispatch, but an `id` still moves the last event id). `id` is
 * the block's own `id:` field, if it had one.
 */
export type Dispatch = (type: string, data: string | undefined, id: string | undefined) => void

export interface EventParser {
  /** Parses the next piece of text; lines may be cut anywhere between pieces. */
  feed (text: string): void
  /** The stream ended: a final CR still ends its line; an unfinished block is dropped, as the spec says. */
  end (): void
}

/** A parser for one connection; `retry` gets each valid `retry:` field (ms). */
export function eventParser (dispatch: Dispatch, retry: (ms: number) => void): EventParser {
  let pending = ''
  let data: string | undefined
  let type = ''
  let id: string | undefined

  function line (text: string): void {
    if (text === '') { // a blank line ends the block
      if (data !== undefined || id !== undefined) dispatch(type || 'message', data, id)
      data = id = undefined
      type = ''
      return
    }
    const colon = text.indexOf(':')
    if (colon === 0) return // a comment, such as the heartbeat
    const field = colon === -1 ? text : text.slice(0, colon)
    const value = colon === -1 ? '' : text.slice(text.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1)
    if (field === 'data') data = data === undefined ? value : data + '\n' + value
    else if (field === 'event') type = value
    else if (field === 'id' && !value.includes('\0')) id = value // an id with NUL is ignored
    else if (field === 'retry' && DIGITS.test(value)) retry(Number(value))
    // any other field is ignored
  }

  return {
    feed (text) {
      const buffer = pending + text
      let start = 0
      LINE_END.lastIndex = 0
      for (let match = LINE_END.exec(buffer); match !== null; match = LINE_END.exec(buffer)) {
        if (match[0] === '\r' && LINE_END.lastIndex === buffer.length) break // maybe the first half of a CRLF
        line(buffer.slice(start, match.index))
        start = LINE_END.lastIndex
      }
      pending = buffer.slice(start)
    },
    end () {
      if (pending.endsWith('\r')) line(pending.slice(0, -1))
      pending = ''
    }
  }
}
