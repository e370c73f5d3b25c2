// One shared timer per heartbeat interval pings every idle stream, instead of a
// timer per stream. A tick every half interval pings the streams that wrote
// nothing since the previous tick, so an idle stream hears from the server at
// least once per interval.

export interface Beating {
  /** Called on every tick; the stream writes a comment if it has been idle. */
  beat (): void
}

class Beat {
  readonly streams = new Set<Beating>()
  private readonly timer: NodeJS.Timeout

  constructor (interval: number) {
    this.timer = setInterval(this.tick, Math.max(1, Math.floor(interval / 2)))
    this.timer.unref()
  }

  private readonly tick = (): void => {
    for (const stream of this.streams) stream.beat()
  }

  stop (): void {
    clearInterval(this.timer)
  }
}

export class Heartbeat {
  private readonly beats = new Map<number, Beat>()

  add (stream: Beating, interval: number): void {
    if (interval === 0) return
    let beat = this.beats.get(interval)
    if (beat === undefined) {
      beat = new Beat(interval)
      this.beats.set(interval, beat)
    }
    beat.streams.add(stream)
  }

  remove (stream: Beating, interval: number): void {
    const beat = this.beats.get(interval)
    if (beat === undefined || !beat.streams.delete(stream) || beat.streams.size > 0) return
    beat.stop()
    this.beats.delete(interval)
  }

  /** Timers still running: one per interval in use, none once every stream is gone. */
  get timers (): number {
    return this.beats.size
  }
}
