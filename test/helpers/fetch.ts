// A fresh fetch connection pool per test, destroyed before the servers close.
//
// Why: when a response is aborted or cancelled, undici (Node's fetch) may open a
// spare connection that sends no request, and Node 20's server.close() does not
// close such a socket (nodejs/node#63452): app.close() would wait until the client
// gives up on it, seconds later. Destroying the test's own client pool first is
// what a client that leaves does, and app.close() then resolves at once.

import type { Test } from 'tap'
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici'

/**
 * Makes fetch use a new pool for this test, destroyed on teardown (or earlier, by
 * calling the function returned). Call it after the servers' teardown is registered:
 * tap runs teardowns last-in first-out.
 */
export function useFreshConnections (t: Test): () => Promise<void> {
  const previous = getGlobalDispatcher()
  const agent = new Agent()
  setGlobalDispatcher(agent)
  let destroyed: Promise<void> | undefined
  const destroy = (): Promise<void> => {
    if (destroyed === undefined) {
      setGlobalDispatcher(previous)
      destroyed = agent.destroy()
    }
    return destroyed
  }
  t.teardown(destroy)
  return destroy
}
