// Every engine call on the user's client answers within the engine's timeout.
// A command is sent only once the client is ready: ioredis would otherwise hold
// it in its offline queue while Redis is down and run it whenever Redis is back,
// long after the caller was told it failed (a publish that "failed" would then
// appear minutes later). While the client is not ready, calls wait for its
// 'ready' (one listener for all of them) until their own deadline.

import type { Redis } from 'ioredis'
import { FST_SSE_HUB_UNAVAILABLE } from '../errors.js'

export class Deadline {
  private ready: Promise<void> | undefined
  private stopWaiting: (() => void) | undefined

  constructor (private readonly client: Redis, private readonly timeoutMs: number) {}

  /** `run()`'s result, or FST_SSE_HUB_UNAVAILABLE when Redis fails or does not answer in time. */
  call<T> (what: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const fail = (reason: string, cause?: unknown): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        const error = new FST_SSE_HUB_UNAVAILABLE(`${what}: ${reason}`)
        if (cause !== undefined) error.cause = cause
        reject(error)
      }
      const timer = setTimeout(() => fail(`no answer from Redis within ${this.timeoutMs} ms (client ${this.client.status})`), this.timeoutMs)
      const send = (): void => {
        if (settled) return // timed out while waiting: never sent
        run().then((value) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(value)
        }, (err: unknown) => fail(err instanceof Error ? err.message : String(err), err))
      }
      if (this.client.status === 'ready') send()
      else this.whenReady().then(send, (err: Error) => fail(err.message))
    })
  }

  /** Lets go of the client's events. */
  close (): void {
    this.stopWaiting?.()
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
