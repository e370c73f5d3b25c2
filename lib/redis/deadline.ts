// Every engine call on the user's client answers within the engine's timeout.
// A command is sent only once the client is ready: ioredis would otherwise hold
// it in its offline queue while Redis is down and run it whenever Redis is back,
// long after the caller was told it failed (a publish that "failed" would then
// appear minutes later). While the client is not ready, calls wait for its
// 'ready' (one listener for all of them) until their own deadline.
//
// All calls have the same timeout, so they expire in the order they started: one
// FIFO and one timer for the oldest call, not a timer per publish.
//
// A call that gets no answer while the connection claims to be ready, and no other
// call got one for a whole timeout either, means the connection cannot be trusted
// (Redis blackholed: no RST, no FIN, the socket just waits): `onStall` is told, at
// most once per timeout, so that the engine replaces the connection instead of
// waiting for TCP to give up. A Redis that is merely slow (answers trickling in on
// an overloaded machine) fails its late calls but keeps its connection. The outcome of the last
// call is kept for health().

import type { Cluster, Redis } from 'ioredis'
import { FST_SSE_HUB_UNAVAILABLE } from '../errors.js'

/** One call waiting for Redis: settled by its reply, or failed at its deadline. */
interface PendingCall {
  settled: boolean
  readonly what: string
  /** The key the call is about, for onStall. */
  readonly key: string
  readonly expires: number
  readonly resolve: (value: any) => void
  readonly reject: (err: Error) => void
}

/** Settled calls are dropped from the front of the FIFO in batches of at least this many. */
const COMPACT_AT = 1024

export class Deadline {
  /** Calls in the order they started, which is the order they expire; `head` is the oldest unsettled one. */
  private pending: Array<PendingCall | undefined> = []
  private head = 0
  private timer: NodeJS.Timeout | undefined
  private readonly expire = (): void => this.expireDue()
  private ready: Promise<void> | undefined
  private stopWaiting: (() => void) | undefined

  /** Why the last call failed; undefined once a call succeeded after it. */
  failure: string | undefined
  private lastStall = -Infinity
  /** When the connection last answered anything (a reply or a Redis error). */
  private lastAnswer = performance.now()

  constructor (
    private readonly client: Redis | Cluster,
    private readonly timeoutMs: number,
    private readonly onStall: (key: string) => void = () => {}
  ) {}

  /** `run()`'s result, or FST_SSE_HUB_UNAVAILABLE when Redis fails or does not answer in time. */
  call<T> (what: string, key: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: PendingCall = { settled: false, what, key, expires: performance.now() + this.timeoutMs, resolve, reject }
      this.pending.push(call)
      this.timer ??= setTimeout(this.expire, this.timeoutMs)
      if (this.client.status === 'ready') this.send(call, run)
      else this.whenReady().then(() => this.send(call, run), (err: Error) => this.fail(call, err.message))
    })
  }

  /** Lets go of the client's events. */
  close (): void {
    this.stopWaiting?.()
  }

  private send (call: PendingCall, run: () => Promise<unknown>): void {
    if (call.settled) return // timed out while waiting: never sent
    run().then((value) => {
      this.lastAnswer = performance.now()
      if (call.settled) return
      call.settled = true
      this.failure = undefined
      call.resolve(value)
      this.dropSettled()
    }, (err: unknown) => {
      // A reply from Redis (not a closed connection) is an answer too.
      if (err instanceof Error && err.name === 'ReplyError') this.lastAnswer = performance.now()
      this.fail(call, err instanceof Error ? err.message : String(err), err)
    })
  }

  private fail (call: PendingCall, reason: string, cause?: unknown): void {
    if (call.settled) return
    this.failure = `${call.what}: ${reason}`
    rejectCall(call, reason, cause)
    this.dropSettled()
  }

  /** Drops settled calls from the front (replies mostly come in order), and the timer once none is left. */
  private dropSettled (): void {
    const pending = this.pending
    while (this.head < pending.length && (pending[this.head] as PendingCall).settled) pending[this.head++] = undefined
    if (this.head === pending.length) {
      this.pending = []
      this.head = 0
      clearTimeout(this.timer)
      this.timer = undefined
    } else if (this.head >= COMPACT_AT && this.head * 2 >= pending.length) {
      this.pending = pending.slice(this.head)
      this.head = 0
    }
  }

  /** The timer: fails every call past its deadline, then waits for the next oldest. */
  private expireDue (): void {
    this.timer = undefined
    // Timers may fire up to a millisecond early by performance.now()'s clock.
    const now = performance.now() + 1
    let stalled: string | undefined
    for (let i = this.head; i < this.pending.length; i++) {
      const call = this.pending[i] as PendingCall
      if (call.settled) continue
      if (call.expires > now) break
      const reason = `no answer from Redis within ${this.timeoutMs} ms (client ${this.client.status})`
      this.failure = `${call.what}: ${reason}`
      if (this.client.status === 'ready') stalled = call.key
      rejectCall(call, reason)
    }
    if (stalled !== undefined && now - this.lastAnswer >= this.timeoutMs && now - this.lastStall >= this.timeoutMs) {
      this.lastStall = now
      this.onStall(stalled)
    }
    this.dropSettled()
    const oldest = this.pending[this.head]
    if (oldest !== undefined && this.timer === undefined) this.timer = setTimeout(this.expire, Math.max(1, oldest.expires - performance.now()))
  }

  private whenReady (): Promise<void> {
    if (this.client.status === 'end') return Promise.reject(new Error('the Redis client was closed'))
    if (this.ready !== undefined) return this.ready
    this.ready = new Promise<void>((resolve, reject) => {
      const onReady = (): void => { settle(); resolve() }
      const onEnd = (): void => { settle(); reject(new Error('the Redis client was closed')) }
      const settle = (): void => {
        this.client.off('ready', onReady)
        this.client.off('end', onEnd)
        this.ready = undefined
        this.stopWaiting = undefined
      }
      this.stopWaiting = (): void => { settle(); reject(new Error('the engine was closed')) }
      this.client.on('ready', onReady)
      this.client.on('end', onEnd)
    })
    // A lazyConnect client connects on its first command; this call waits instead of sending one.
    if (this.client.status === 'wait') this.client.connect().catch(() => {})
    return this.ready
  }
}

function rejectCall (call: PendingCall, reason: string, cause?: unknown): void {
  call.settled = true
  const error = new FST_SSE_HUB_UNAVAILABLE(`${call.what}: ${reason}`)
  if (cause !== undefined) error.cause = cause
  call.reject(error)
}
