// The embedded engine against the rules of engine.ts: ids, trimming by count and
// age (never from the middle), idle topics dropped, the two kinds of gone resume
// point, live notifications with the previous id, close.

import t from 'tap'
import { memoryEngine, ZERO_ID, compareIds, type EnginePage, type LiveEntry } from '../../lib/hub/index.js'

const body = (n: number): string => `data: ${n}\n`

t.test('ids are <ms>-<seq> and strictly increasing per topic, also when the clock goes back', async (t) => {
  const engine = memoryEngine()
  t.teardown(() => engine.close())
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  let clock = 1_800_000_000_000
  Date.now = () => clock
  const ids: string[] = []
  ids.push(await engine.append('a', body(1)))
  ids.push(await engine.append('a', body(2)))
  clock -= 60_000 // the clock goes back a minute
  ids.push(await engine.append('a', body(3)))
  clock += 120_000
  ids.push(await engine.append('a', body(4)))
  t.same(ids, ['1800000000000-0', '1800000000000-1', '1800000000000-2', '1800000060000-0'])
  for (let i = 1; i < ids.length; i++) t.ok(compareIds(ids[i - 1] as string, ids[i] as string) < 0, `${ids[i - 1]} < ${ids[i]}`)
  t.equal(await engine.newest('a'), ids.at(-1))
  t.equal(await engine.newest('b'), ZERO_ID, 'a topic with no event is at ZERO_ID')
})

t.test('read: pages after an id, from the oldest, and the two kinds of gone resume point', async (t) => {
  const engine = memoryEngine({ history: 5 })
  t.teardown(() => engine.close())
  const ids: string[] = []
  for (let n = 1; n <= 3; n++) ids.push(await engine.append('a', body(n)))
  t.same(await engine.read('a', ZERO_ID, 10), { status: 'ok', entries: ids.map((id, i) => ({ id, body: body(i + 1), ms: Number(id.split('-')[0]) })) }, 'ZERO_ID while nothing was trimmed: from the first')
  t.same((await engine.read('a', ids[0], 1) as { entries: Array<{ id: string }> } & EnginePage).entries.map(e => e.id), [ids[1]], 'a page of the asked size, after the id')
  t.same(await engine.read('a', ids[2], 10), { status: 'ok', entries: [] }, 'after the newest: an empty page')

  for (let n = 4; n <= 8; n++) ids.push(await engine.append('a', body(n)))
  const kept = await engine.read('a', undefined, 10)
  t.same(kept.status === 'ok' && kept.entries.map(e => e.body), [4, 5, 6, 7, 8].map(body), 'trimmed by count from the oldest end')
  t.same(await engine.read('a', ids[0], 10), { status: 'history-lost' }, 'an id trimmed away')
  t.same(await engine.read('a', ZERO_ID, 10), { status: 'history-lost' }, 'ZERO_ID once something was trimmed')
  t.same(await engine.read('a', 'nonsense', 10), { status: 'unknown-id' }, 'malformed')
  t.same(await engine.read('a', '99999999999999-0', 10), { status: 'unknown-id' }, 'newer than the newest')
  const [ms] = (ids[5] as string).split('-')
  t.same(await engine.read('a', `${ms}-999`, 10), { status: 'unknown-id' }, 'inside the kept range but no event of the topic')
  t.same(await engine.read('never', ids[5], 10), { status: 'history-lost' }, 'a past id on a topic holding nothing (dropped, or from before a restart)')
  t.same(await engine.read('never', `${Date.now() + 3_600_000}-0`, 10), { status: 'unknown-id' }, 'a future id on a topic holding nothing')
  t.same(await engine.read('never', ZERO_ID, 10), { status: 'ok', entries: [] })
})

t.test('maxAgeMs trims what is older from the oldest end', async (t) => {
  const realNow = Date.now
  let clock = realNow()
  Date.now = () => clock
  t.teardown(() => { Date.now = realNow })
  const engine = memoryEngine({ maxAgeMs: 100 })
  t.teardown(() => engine.close())
  const old = await engine.append('a', body(1))
  clock += 150
  const fresh = await engine.append('a', body(2))
  const page = await engine.read('a', undefined, 10)
  t.same(page.status === 'ok' && page.entries.map(e => e.id), [fresh])
  t.same(await engine.read('a', old, 10), { status: 'history-lost' })
  t.same(await engine.read('a', fresh, 10), { status: 'ok', entries: [] })
})

t.test('idleTtlMs drops an idle topic; its next ids are still larger', async (t) => {
  const engine = memoryEngine({ idleTtlMs: 50 })
  t.teardown(() => engine.close())
  const before = await engine.append('a', body(1))
  await new Promise(resolve => setTimeout(resolve, 100))
  t.same(await engine.read('a', before, 10), { status: 'history-lost' }, 'the dropped history\'s ids are gone')
  t.equal(await engine.newest('a'), ZERO_ID, 'nothing held')
  const after = await engine.append('a', body(2))
  t.ok(compareIds(before, after) < 0, `the id after the drop (${after}) is larger than before (${before})`)
})

t.test('listeners hear each event after it is stored, with the id before it; stop ends it', async (t) => {
  const engine = memoryEngine()
  t.teardown(() => engine.close())
  const heard: LiveEntry[] = []
  const stop = engine.listen('a', { entry: (entry) => heard.push(entry), resync: () => {} })
  const first = await engine.append('a', body(1))
  const second = await engine.append('a', body(2))
  await new Promise(resolve => setImmediate(resolve))
  t.same(heard, [{ id: first, body: body(1), previousId: ZERO_ID }, { id: second, body: body(2), previousId: first }])
  stop()
  await engine.append('a', body(3))
  await new Promise(resolve => setImmediate(resolve))
  t.equal(heard.length, 2, 'nothing after stop')
})

t.test('close: the engine refuses work and holds no timer that keeps the process up', async (t) => {
  const engine = memoryEngine()
  await engine.close()
  await t.rejects(engine.append('a', body(1)), { code: 'FST_SSE_HUB_UNAVAILABLE' })
  await t.rejects(engine.read('a', undefined, 1), { code: 'FST_SSE_HUB_UNAVAILABLE' })
  t.throws(() => engine.listen('a', { entry: () => {}, resync: () => {} }), { code: 'FST_SSE_HUB_UNAVAILABLE' })
  // getActiveResourcesInfo() lists the timers that keep the process up, not unref'd ones.
  const timers = (): number => process.getActiveResourcesInfo().filter(name => name === 'Timeout').length
  const before = timers()
  const idle = memoryEngine({ idleTtlMs: 1000 })
  t.teardown(() => idle.close())
  t.equal(timers(), before, 'its one sweep timer does not keep the process up')
})

t.test('read: an id at one of the history\'s positions but with a tag names no event of it (unknown-id); compareIds orders by position', async (t) => {
  const engine = memoryEngine()
  t.teardown(() => engine.close())
  const ids = [await engine.append('a', body(1)), await engine.append('a', body(2)), await engine.append('a', body(3))]
  const tagged = `${ids[1] as string}-x1y2z3w4`
  t.same(await engine.read('a', tagged, 10), { status: 'unknown-id' })
  t.equal((await engine.read('a', ids[1], 10)).status, 'ok', 'the untagged id is its resume point')
  t.equal(compareIds(tagged, ids[1] as string), 0, 'the same position')
  t.ok(compareIds(tagged, ids[2] as string) < 0 && compareIds(ids[0] as string, tagged) < 0, 'ordered among the others by position')
})
