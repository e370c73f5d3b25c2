// 5,000 subscribers on one topic (held open by a child process, so that this
// process is only the server): each gets the event, the server's memory per
// subscriber is measured, and app.close() resolves promptly with every
// subscription's source finalized.

import t from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { startHubApp } from './helpers.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapUsed = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }

const SUBSCRIBERS = 5000

async function reply<T> (child: ChildProcess, key: string, timeoutMs: number): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the clients did not report ${key} within ${timeoutMs} ms`)), timeoutMs)
    const onMessage = (message: Record<string, unknown>): void => {
      if (message.error !== undefined) reject(new Error(String(message.error)))
      if (!(key in message)) return
      clearTimeout(timer)
      child.off('message', onMessage)
      resolve(message[key] as T)
    }
    child.on('message', onMessage)
  })
}

t.test(`${SUBSCRIBERS} subscribers: every one gets the event, and app.close() resolves promptly with every source finalized`, async (t) => {
  const { app, hub, url, finalized } = await startHubApp(t)
  const child = fork(join(__dirname, 'fixtures', 'stream-clients.ts'), { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => { if (child.exitCode === null) child.kill() })
  await hub.publish('crowd', { event: 'message', data: { n: 1, text: 'before' } })

  const before = heapUsed()
  const started = performance.now()
  child.send({ open: `${url}/topics/crowd/events`, count: SUBSCRIBERS })
  t.equal(await reply<number>(child, 'opened', 120_000), SUBSCRIBERS, `${SUBSCRIBERS} streams open, each with its position (${Math.round(performance.now() - started)} ms)`)
  const perSubscriber = (heapUsed() - before) / SUBSCRIBERS
  t.comment(`server heap per subscriber, HTTP stream included: ${(perSubscriber / 1024).toFixed(2)} KiB`)
  t.ok(perSubscriber < 16 * 1024, `heap per subscriber ${(perSubscriber / 1024).toFixed(2)} KiB (the goal is at most 6 KiB; this bound is generous for a shared machine)`)

  const published = performance.now()
  const id = await hub.publish('crowd', { event: 'message', data: { n: 2, text: 'to everyone' } })
  child.send({ wait: `id: ${id}\ndata: {"n":2,"text":"to everyone"}\n\n` })
  await reply(child, 'seen', 60_000)
  t.pass(`every subscriber got the event (${Math.round(performance.now() - published)} ms after publish)`)

  const closing = performance.now()
  const childClosed = reply<number>(child, 'closed', 60_000)
  await app.close()
  const closeMs = performance.now() - closing
  t.ok(closeMs < 10_000, `app.close() resolved in ${Math.round(closeMs)} ms`)
  t.equal(finalized.count, SUBSCRIBERS, 'every subscription\'s source finalized')
  t.equal(await childClosed, SUBSCRIBERS, 'every client saw its stream end')
  await t.rejects(hub.publish('crowd', { event: 'message', data: { n: 3, text: 'late' } }), { code: 'FST_SSE_HUB_UNAVAILABLE' }, 'the hub closed with the app')
  child.disconnect()
  await once(child, 'exit')
})
