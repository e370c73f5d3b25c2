// What the engine's live paths share: the probe bookkeeping of one subscription
// (a connection, or a partition on a cluster), and the interface the engine drives.

import type { EngineListener } from '../hub/engine.js'

/** A live path: listeners per channel, probed once per round, quit on close. */
export interface LivePath {
  listen (channelOrTopic: string, listener: EngineListener): () => void
  /** One probe round: restarts what missed the last one, sends the next. */
  probeRound (): void
  /** Why some subscription is not confirmed within `boundMs` (empty when all are). */
  unconfirmed (now: number, boundMs: number): string[]
  close (): Promise<void>
}

/** One probed subscription: a probe in flight, and when something last came through. */
export class ProbeState {
  /** A probe was sent and neither it nor any message came back since. */
  private awaiting = false
  /** Probes missed in a row; reset by anything heard. */
  misses = 0
  confirmedAt = performance.now()

  /** Anything came through: a message, a probe, a subscription's confirmation. */
  heard (): void {
    this.awaiting = false
    this.misses = 0
    this.confirmedAt = performance.now()
  }

  sent (): void {
    this.awaiting = true
  }

  /** The probe of the last round came back neither by itself nor with company. */
  missed (): boolean {
    if (!this.awaiting) return false
    this.misses++
    return true
  }

  /** The subscription is being restarted: wait for its confirmation before probing it again. */
  restarted (): void {
    this.awaiting = false
  }

  /** A new connection: nothing is in flight on it. */
  reset (): void {
    this.awaiting = false
  }

  confirmedWithin (now: number, boundMs: number): boolean {
    return now - this.confirmedAt <= boundMs
  }
}
