// The send timeout (nginx's send_timeout): one shared timer per timeout checks
// the streams waiting for their client to take bytes, so a client that stops
// reading cannot hold a stream forever. A stream is dropped once its client has
// accepted nothing for the whole timeout; the check runs four times per timeout,
// so it is dropped between 1 and 1.5 timeouts after the client stopped.

import { Ticker } from './ticker.js'

export interface Sending {
  /**
   * Called on every tick with performance.now(); the stream drops itself if stalled that
   * long. `late`: the process missed ticks, so the client gets the time back.
   */
  checkSend (now: number, late: boolean): void
}

export class SendTimeouts extends Ticker<Sending> {
  constructor () {
    super(check, timeout => timeout / 4)
  }
}

function check (stream: Sending, now: number, late: boolean): void {
  stream.checkSend(now, late)
}
