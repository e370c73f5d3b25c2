// The event sources every contender streams from, so they all send the same events.
// Each source counts how many generators started and how many ran their `finally`:
// a generator that never finalizes is a stream whose resources were never released.

import type { Fanout } from './harness.js'

export interface Tick {
  value: number
  ts: number
}

export const generators = { started: 0, finalized: 0 }

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function now (): number {
  return performance.timeOrigin + performance.now()
}

/** The payload of one token event; the client checks the last one. */
export function token (index: number): string {
  return ' w' + index
}

/** About 1 KB of text per event; the socket buffers on loopback take a few hundred of them before the server sees backpressure. */
export const FLOOD_TEXT = 'x'.repeat(1000)

/** `count` ticks, as fast as the consumer pulls them. */
export async function * ticks<T> (count: number, toItem: (tick: Tick) => T): AsyncGenerator<T> {
  generators.started++
  try {
    for (let value = 0; value < count; value++) yield toItem({ value, ts: Date.now() })
  } finally {
    generators.finalized++
  }
}

/** `count` token deltas, then `doneItem` when the contender has no other way to send the sentinel. */
export async function * tokens<T> (count: number, toItem: (delta: string) => T, doneItem?: T): AsyncGenerator<T> {
  generators.started++
  try {
    for (let index = 0; index < count; index++) yield toItem(token(index))
    if (doneItem !== undefined) yield doneItem
  } finally {
    generators.finalized++
  }
}

/** Callers blocked in `idle()`: a realistic source waits on something that holds on to it. */
const idleWaiters = new Set<() => void>()

export function idleWaiting (): number {
  return idleWaiters.size
}

/** Waits until `signal` aborts; forever without one (like a subscription nobody cancels). */
function idle (signal: AbortSignal | undefined): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted === true) {
      resolve()
      return
    }
    const wake = (): void => {
      idleWaiters.delete(wake)
      resolve()
    }
    idleWaiters.add(wake)
    signal?.addEventListener('abort', wake, { once: true })
  })
}

/** One event, then nothing until the stream is torn down (churn). */
export async function * oneThenIdle<T> (item: T, signal?: AbortSignal): AsyncGenerator<T> {
  generators.started++
  try {
    yield item
    await idle(signal)
  } finally {
    generators.finalized++
  }
}

/**
 * Events of about 1 KB without end (abort). Every 64 events it lets the event loop turn,
 * as a source doing I/O would, so a contender without backpressure cannot starve the server.
 */
export async function * flood<T> (toItem: (value: number) => T, signal?: AbortSignal): AsyncGenerator<T> {
  generators.started++
  try {
    for (let value = 0; signal?.aborted !== true; value++) {
      yield toItem(value)
      if ((value & 63) === 63) await new Promise(resolve => setImmediate(resolve))
    }
  } finally {
    generators.finalized++
  }
}

interface Link<T> {
  item: T
  next: Promise<Link<T> | undefined>
}

/**
 * Broadcast for generator-based contenders: every subscriber awaits the same promise,
 * and every publish hands all of them the same item object.
 */
export class Hub<T> {
  subscribers = 0
  private next: Promise<Link<T> | undefined>
  private settle: (link: Link<T> | undefined) => void = () => {}

  constructor () {
    this.next = new Promise(resolve => { this.settle = resolve })
  }

  publish (item: T): void {
    const settle = this.settle
    this.next = new Promise(resolve => { this.settle = resolve })
    settle({ item, next: this.next })
  }

  /** Ends every subscription: their generators return and their streams end. */
  end (): void {
    this.settle(undefined)
  }

  async * subscribe (): AsyncGenerator<T> {
    generators.started++
    this.subscribers++
    try {
      let pending = this.next
      while (true) {
        const link = await pending
        if (link === undefined) return
        yield link.item
        pending = link.next
      }
    } finally {
      this.subscribers--
      generators.finalized++
    }
  }
}

/** Fanout through a Hub: each broadcast hands every subscriber the same item; end() ends them all and opens a new hub. */
export class HubFanout<T> implements Fanout {
  private hub = new Hub<T>()
  private readonly toItem: (tick: Tick) => T

  constructor (toItem: (tick: Tick) => T) {
    this.toItem = toItem
  }

  subscribe (): AsyncGenerator<T> {
    return this.hub.subscribe()
  }

  size (): number {
    return this.hub.subscribers
  }

  publish (tick: Tick): void {
    this.hub.publish(this.toItem(tick))
  }

  end (): void {
    this.hub.end()
    this.hub = new Hub()
  }
}
