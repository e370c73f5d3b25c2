// The event stream format's parsing rules (WHATWG HTML, "Server-sent events",
// interpreting an event stream), for text already decoded from UTF-8.
//
// Written here rather than taken from eventsource-parser because the client needs
// one thing that parser does not report: a block with an `id:` and no data (the
// hub's position item). The spec sets the last event id from it and dispatches
// nothing; eventsource-parser 3 drops the block, id and all.

const LINE_END = /\r\n|\r|\n/g
const DIGITS = /^\d+$/

export interface ParserSink {
  /**
   * A blank line ended a block: `data` is `undefined` when the block had no data line
   * (nothing to dispatch, but the last event id may have moved). `id` is the block's
   * own `id:` field, `lastEventId` the stream's last event id after it.
   */
  dispatch (type: string, data: string | undefined, id: string | undefined, lastEventId: string): void
  /** A valid `retry:` field: the server's reconnection time in ms. */
  retry (ms: number): void
}

export class EventParser {
  private pending = ''
  private data: string | undefined
  private type = ''
  private id: string | undefined
  private lastEventId: string
  private readonly sink: ParserSink

  /** `lastEventId` starts as the id the connection resumes from, so events without an id keep it. */
  constructor (lastEventId: string, sink: ParserSink) {
    this.lastEventId = lastEventId
    this.sink = sink
  }

  /** Parses the next piece of text; lines may be cut anywhere between pieces. */
  feed (text: string): void {
    const buffer = this.pending + text
    let start = 0
    LINE_END.lastIndex = 0
    for (let match = LINE_END.exec(buffer); match !== null; match = LINE_END.exec(buffer)) {
      if (match[0] === '\r' && LINE_END.lastIndex === buffer.length) break // maybe the first half of a CRLF
      this.line(buffer.slice(start, match.index))
      start = LINE_END.lastIndex
    }
    this.pending = buffer.slice(start)
  }

  /** The stream ended: a final CR still ends its line. An unfinished block is dropped, as the spec says. */
  end (): void {
    if (this.pending.endsWith('\r')) this.line(this.pending.slice(0, -1))
    this.pending = ''
  }

  private line (line: string): void {
    if (line === '') return this.dispatch()
    const colon = line.indexOf(':')
    if (colon === 0) return // a comment, such as the heartbeat
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1)
    switch (field) {
      case 'data':
        this.data = this.data === undefined ? value : this.data + '\n' + value
        break
      case 'event':
        this.type = value
        break
      case 'id':
        if (!value.includes('\0')) this.id = value
        break
      case 'retry':
        if (DIGITS.test(value)) this.sink.retry(Number(value))
        break
      // any other field is ignored
    }
  }

  private dispatch (): void {
    if (this.id !== undefined) this.lastEventId = this.id
    const { data, id } = this
    if (data !== undefined || id !== undefined) this.sink.dispatch(this.type || 'message', data, id, this.lastEventId)
    this.data = undefined
    this.type = ''
    this.id = undefined
  }
}
