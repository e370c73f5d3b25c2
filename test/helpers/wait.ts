// Shared by the stream tests: polling until a condition holds or a count stops
// changing, and counting the timers a stream leaves behind. The polling timers
// are recorded here so that trackTimers() can leave them out: a test that waits
// for "no timer left" must not count the timer it is waiting with.

import { createHook } from 'node:async_hooks'

/** This module's own polling timers, left out by trackTimers(). */
const pollTimers = new WeakSet<object>()

/** Sleeps `ms` on a timer that trackTimers() does not count. */
async function pollSleep (ms: number): Promise<void> {
  await new Promise(resolve => pollTimers.add(setTimeout(resolve, ms)))
}

/**
 * Polls `condition` every 5 ms until it holds; throws after `timeout` ms instead
 * of hanging. `what` may be a function so that a failure message can report the
 * state at the time of the failure (it is only called then).
 */
export async function waitFor (condition: () => boolean, timeout: number, what: string | (() => string)): Promise<void> {
  const deadline = performance.now() + timeout
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`)
    await pollSleep(5)
  }
}

/**
 * Waits until `count()` has not changed for `quietMs`, and returns its value then:
 * how a test sees that a source has stopped being pulled (there is no event for
 * "nothing more happens"). Throws if the count is still changing after `timeout` ms.
 */
export async function plateau (count: () => number, quietMs: number, timeout: number): Promise<number> {
  const deadline = performance.now() + timeout
  let value = count()
  let since = performance.now()
  while (performance.now() - since < quietMs) {
    if (performance.now() > deadline) throw new Error(`no plateau within ${timeout} ms: the count is still growing (${count()})`)
    await pollSleep(50)
    const now = count()
    if (now !== value) {
      value = now
      since = performance.now()
    }
  }
  return value
}

/**
 * Counts the live timers created since it started, unref'd ones too (which
 * process.getActiveResourcesInfo() leaves out), but not waitFor's and plateau's
 * own polling timers. Call stop() when done (e.g. in t.teardown).
 */
export function trackTimers (): { readonly live: number, stop (): void } {
  const live = new Map<number, object>()
  const hook = createHook({
    init (asyncId, type, _trigger, resource) { if (type === 'Timeout') live.set(asyncId, resource) },
    destroy (asyncId) { live.delete(asyncId) }
  }).enable()
  return {
    get live () { return [...live.values()].filter(timer => !pollTimers.has(timer)).length },
    stop () { hook.disable() }
  }
}
