// One shared timer per heartbeat interval pings every idle stream, instead of a
// timer per stream. A tick every half interval pings the streams that wrote
// nothing since the previous tick, so an idle stream hears from the server at
// least once per interval.

import { Ticker } from './ticker.js'

export interface Beating {
  /** Called on every tick; the stream writes a comment if it has been idle. */
  beat (): void
}

export class Heartbeat extends Ticker<Beating> {
  constructor () {
    super(beat, interval => interval / 2)
  }
}

function beat (stream: Beating): void {
  stream.beat()
}
