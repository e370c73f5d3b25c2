// The appends one turn of the event loop makes go to Redis as one script call (per
// partition on a cluster, whose keys share one slot), not one call each: Redis then
// parses, looks up and runs the script once per batch, and the instance sends and
// reads one command. Measured on one redis-server: 16 µs of Redis CPU per event with a
// call per append, 10 µs in batches of 20, against 9 µs for a plain PUBLISH.

import { newTag } from './tags.js'

/** Appends sent in one call at most: bounds the arguments and how long one script runs. */
export const MAX_BATCH = 128

/** One append waiting for its batch. */
export interface QueuedAppend {
  readonly key: string
  readonly channel: string
  readonly head: string
  readonly body: string
  readonly tag: string
  readonly resolve: (id: string) => void
  readonly reject: (err: unknown) => void
}

/** Sends one batch (in the order the appends were made) and settles each of its appends. */
export type SendBatch = (batch: readonly QueuedAppend[]) => void

export class AppendBatches {
  /** The batch being filled, per group ('' on one Redis; the partition's channel on a cluster). */
  private readonly open = new Map<string, QueuedAppend[]>()
  private flushQueued = false
  private readonly flush = (): void => this.flushAll()

  constructor (private readonly send: SendBatch, private readonly grouped: boolean) {}

  add (key: string, channel: string, head: string, body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const group = this.grouped ? channel : ''
      let batch = this.open.get(group)
      if (batch === undefined) {
        batch = []
        this.open.set(group, batch)
      }
      batch.push({ key, channel, head, body, tag: newTag(), resolve, reject })
      if (batch.length >= MAX_BATCH) {
        this.open.delete(group)
        this.send(batch)
      } else if (!this.flushQueued) {
        // After the current operation and the promise reactions it started: a loop of
        // publishes, or a handler that validates then publishes, fills one batch.
        this.flushQueued = true
        process.nextTick(this.flush)
      }
    })
  }

  private flushAll (): void {
    this.flushQueued = false
    for (const batch of this.open.values()) this.send(batch)
    this.open.clear()
  }
}
