// The event stream format's parsing rules (WHATWG HTML, "Server-sent events",
// interpreting an event stream), for text already decoded from UTF-8.
//
// Written here rather than taken from eventsource-parser because the client needs
// one thing that parser does not report: a block with an `id:` and no data (the
// hub's position item). The spec sets the last event id from it and dispatches
// nothing; eventsource-parser 3 drops the block, id and all.

/** A line ends at CRLF, CR or LF; a CR that ends the text so far waits, for it may be the first half of a CRLF. */
const LINE_END = /\r\n|\r(?!$)|\n/

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
  let type: string | undefined
  let id: string | undefined

  function line (text: string): void {
    if (!text) { // a blank line ends the block
      if ((data ?? id) !== undefined) dispatch(type || 'message', data, id)
      data = id = type = undefined
      return
    }
    // A comment (such as the heartbeat) has the empty name, which is ignored like any other field.
    // No colon: -1 >>> 0 is 2 ** 32 - 1, past the end, so the whole line is the name and the value is empty.
    const colon = text.indexOf(':') >>> 0
    const field = text.slice(0, colon)
    const value = text.slice(colon + (text[colon + 1] === ' ' ? 2 : 1))
    if (field === 'data') data = data === undefined ? value : data + '\n' + value
    else if (field === 'event') type = value
    else if (field === 'id' && !value.includes('\0')) id = value // an id with NUL is ignored
    else if (field === 'retry' && /^\d+$/.test(value)) retry(Number(value))
    // any other field is ignored
  }

  return {
    feed (text) {
      const lines = (pending + text).split(LINE_END)
      pending = lines.pop()!
      lines.forEach(line)
    },
    end () {
      if (pending.at(-1) === '\r') line(pending.slice(0, -1))
      pending = ''
    }
  }
}
