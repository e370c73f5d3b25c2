// The Redis engine against a real redis-server, at the engine interface: history
// and resume points, the live channel and its resyncs, failures and close.

import t, { type Test } from 'tap'
import Redis, { type Cluster, type ClusterOptions, type RedisOptions } from 'ioredis'
import { redisEngine } from '../../lib/redis/index.js'
import type { EngineListener, HubEngine, LiveEntry } from '../../lib/hub/engine.js'
import { ZERO_ID } from '../../lib/hub/engine.js'
import { compareIds } from '../../lib/hub/ids.js'
import { requireRedisServer, startRedis, type RunningRedis } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/events.js'

const redisPath = requireRedisServer(t)

/** A client that reconnects quickly, quit on teardown. */
function clientOf (t: Test, redis: RunningRedis, options: RedisOptions = {}): Redis {
  const client = new Redis(redis.port, '127.0.0.1', { retryStrategy: () => 50, ...options })
  client.on('error', () => {}) // the tests stop Redis on purpose
  t.teardown(() => { client.disconnect() })
  return client
}

function engineOf (t: Test, client: Redis, options: Omit<Parameters<typeof redisEngine>[0], 'client'> = {}): HubEngine {
  const engine = redisEngine({ client, ...options })
  t.teardown(() => engine.close())
  return engine
}

/** A listener that records what it is told. */
function recorder (): EngineListener & { entries: LiveEntry[], resyncs: number } {
  return {
    entries: [],
    resyncs: 0,
    entry (entry) { this.entries.push(entry) },
    resync () { this.resyncs++ }
  }
}

async function appendMany (engine: HubEngine, topic: string, count: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push(await engine.append(topic, `data: ${i}\n`))
  return ids
}

/** Waits until nothing is pending in the subscription: a round trip on the subscriber connection. */
async function subscribed (admin: Redis, channel: string, count = 1): Promise<void> {
  await waitFor(`${count} subscriber(s) on ${channel}`, async () => {
    const reply = await admin.call('PUBSUB', 'NUMSUB', channel) as [string, number]
    return reply[1] === count
  })
}

if (redisPath !== undefined) {
  t.test('append stores each event and resolves with growing ids; read returns them in pages after an id', async (t) => {
    const redis = await startRedis(t, redisPath)
    const engine = engineOf(t, clientOf(t, redis))
    const ids = await appendMany(engine, 'room:1', 25)
    for (let i = 1; i < ids.length; i++) t.ok(compareIds(ids[i - 1]!, ids[i]!) < 0, `id ${i} is larger than the one before`)

    const all = await engine.read('room:1', undefined, 100)
    t.same(all, { status: 'ok', entries: ids.map((id, i) => ({ id, body: `data: ${i}\n` })) }, 'from the oldest, with the bodies as given')

    const page = await engine.read('room:1', ids[4], 10)
    t.same(page.status === 'ok' && page.entries.map(e => e.id), ids.slice(5, 15), 'after an id, exclusive, at most limit')
    const tail = await engine.read('room:1', ids[20], 10)
    t.same(tail.status === 'ok' && tail.entries.map(e => e.id), ids.slice(21), 'fewer at the end')
    t.same(await engine.read('room:1', ids[24], 10), { status: 'ok', entries: [] }, 'none after the newest')
    t.same(await engine.read('room:1', ZERO_ID, 3), { status: 'ok', entries: ids.slice(0, 3).map((id, i) => ({ id, body: `data: ${i}\n` })) },
      'ZERO_ID is a resume point while the history starts at the first event')
    t.equal(await engine.newest('room:1'), ids[24])
    t.equal(await engine.newest('room:none'), ZERO_ID, 'a topic without events is at ZERO_ID')
    t.same(await engine.read('room:none', undefined, 10), { status: 'ok', entries: [] })
    t.same(await engine.read('room:none', ZERO_ID, 10), { status: 'ok', entries: [] })
  })

  t.test('bodies keep line breaks, unicode and lone characters exactly', async (t) => {
    const redis = await startRedis(t, redisPath)
    const engine = engineOf(t, clientOf(t, redis))
    const bodies = ['event: message\ndata: {"text":"héllo 👋"}\n', 'data: a\ndata: b\ndata: \n', 'data: \\n not a break\n']
    const ids: string[] = []
    for (const body of bodies) ids.push(await engine.append('t', body))
    t.same(await engine.read('t', undefined, 10), { status: 'ok', entries: bodies.map((body, i) => ({ id: ids[i], body })) })
  })

  t.test('a resume point that is no entry: unknown-id or history-lost, as the case is', async (t) => {
    const redis = await startRedis(t, redisPath)
    const client = clientOf(t, redis)
    const engine = engineOf(t, client, { history: 10 })
    const ids = await appendMany(engine, 'topic', 400)
    const length = await client.xlen('sse:topic')
    t.ok(length >= 10 && length < 400, `the history was trimmed to about 10 (kept ${length}: trimming is by whole nodes)`)
    const page = await engine.read('topic', undefined, 1000)
    const kept = page.status === 'ok' ? page.entries.map(e => e.id) : []
    t.same(kept, ids.slice(-length), 'the newest entries are the ones kept')

    t.same(await engine.read('topic', ids[0], 10), { status: 'history-lost' }, 'a trimmed id')
    t.same(await engine.read('topic', ZERO_ID, 10), { status: 'history-lost' }, 'ZERO_ID once the first event is trimmed')
    t.same(await engine.read('topic', '1-0', 10), { status: 'history-lost' }, 'any id older than the first kept')
    const [ms, seq] = kept.at(-1)!.split('-').slice(0, 2).map(BigInt) as [bigint, bigint]
    t.same(await engine.read('topic', `${ms + 1000n}-0`, 10), { status: 'unknown-id' }, 'newer than the newest')
    t.same(await engine.read('topic', `${ms}-${seq + 1n}`, 10), { status: 'unknown-id' }, 'just after the newest')
    const [firstMs, firstSeq] = kept[0]!.split('-').slice(0, 2).map(BigInt) as [bigint, bigint]
    const between = `${firstMs}-${firstSeq + 1n}`
    if (!kept.some(id => id.startsWith(between + '-'))) t.same(await engine.read('topic', between, 10), { status: 'unknown-id' }, 'inside the kept range, but no entry')
    for (const malformed of ['', 'abc', '12', '-1-0', '01-0', '1-', '1-0-', '1-0-A', '1-0-a-b', '1-0-12345678901234567', ' 1-0', '99999999999999999-0', '1-18446744073709551616']) {
      t.same(await engine.read('topic', malformed, 10), { status: 'unknown-id' }, `malformed: ${JSON.stringify(malformed)}`)
    }
    t.equal(await engine.read('topic', kept[0], 5).then(p => p.status), 'ok', 'the oldest kept id is still a resume point')

    // The tag: the same stream id with another tag is another history's event.
    const newest = kept.at(-1)!
    t.match(newest, /^\d+-\d+-[0-9a-z]{8}$/, 'ids carry an 8-character tag')
    t.equal(await engine.newest('topic'), newest, 'newest() names the event with its tag')
    const position = newest.split('-').slice(0, 2).join('-')
    const otherTag = newest.endsWith('0') ? '1' : '0'
    t.same(await engine.read('topic', `${position}-${otherTag}`, 10), { status: 'history-lost' }, 'its stream id with another tag: history-lost')
    t.same(await engine.read('topic', position, 10), { status: 'ok', entries: [] }, 'its stream id alone (an id from before tags): a resume point by position')
  })

  t.test('maxAgeMs trims events older than it when the topic is published to', async (t) => {
    const redis = await startRedis(t, redisPath)
    const client = clientOf(t, redis)
    const engine = engineOf(t, client, { maxAgeMs: 200 })
    const old = await appendMany(engine, 'aged', 250) // more than one stream node, so that whole nodes can go
    await new Promise(resolve => setTimeout(resolve, 400))
    const fresh = await engine.append('aged', 'data: fresh\n')
    const page = await engine.read('aged', undefined, 1000)
    const ids = page.status === 'ok' ? page.entries.map(e => e.id) : []
    t.ok(ids.length < old.length, `old entries were trimmed (kept ${ids.length} of ${old.length + 1})`)
    t.equal(ids.at(-1), fresh)
    t.same(await engine.read('aged', old[0], 10), { status: 'history-lost' })
  })

  t.test('an idle topic expires after idleTtlMs: its old ids are history-lost, ZERO_ID starts over', async (t) => {
    const redis = await startRedis(t, redisPath)
    const client = clientOf(t, redis)
    const engine = engineOf(t, client, { idleTtlMs: 300 })
    const [id] = await appendMany(engine, 'idle', 1)
    const ttl = await client.pttl('sse:idle')
    t.ok(ttl > 0 && ttl <= 300, `the stream has a ttl (${ttl} ms)`)
    await waitFor('the stream to expire', async () => await client.exists('sse:idle') === 0, 5000)
    t.same(await engine.read('idle', id, 10), { status: 'history-lost' })
    t.equal(await engine.newest('idle'), ZERO_ID)
    const next = await engine.append('idle', 'data: again\n')
    t.ok(compareIds(next, id!) > 0, 'ids still grow after the topic starts over')
    t.same(await engine.read('idle', id, 10), { status: 'history-lost' }, 'the old id is older than the new history')
  })

  t.test('the appends of one turn of the event loop go in one script call (at most 128 each), in order; one Redis refuses fails alone', async (t) => {
    const redis = await startRedis(t, redisPath)
    const client = clientOf(t, redis)
    const engine = engineOf(t, client)
    await engine.append('warm', 'data: loads the script\n')
    const scriptCalls = async (): Promise<number> => {
      const info = await client.info('commandstats')
      return [...info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0)
    }
    await client.config('RESETSTAT')
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => engine.append(`room:${i % 5}`, `data: ${i}\n`)))
    t.equal(await scriptCalls(), 1, '50 appends over 5 topics in one tick: one script call')
    for (let topic = 0; topic < 5; topic++) {
      const page = await engine.read(`room:${topic}`, undefined, 100)
      const mine = ids.filter((_, i) => i % 5 === topic)
      t.same(page.status === 'ok' ? page.entries.map(e => [e.id, e.body]) : [], mine.map((id, k) => [id, `data: ${topic + 5 * k}\n`]), `room:${topic}: its ten events, in the order they were made`)
      for (let k = 1; k < mine.length; k++) t.ok(compareIds(mine[k - 1]!, mine[k]!) < 0)
    }

    await client.config('RESETSTAT')
    await Promise.all(Array.from({ length: 300 }, (_, i) => engine.append('room:big', `data: ${i}\n`)))
    t.equal(await scriptCalls(), 3, '300 appends in one tick: three calls of at most 128')

    await client.set('sse:not-a-stream', 'x')
    const [refused, stored] = await Promise.allSettled([engine.append('not-a-stream', 'data: 1\n'), engine.append('room:ok', 'data: 2\n')])
    t.equal(refused.status, 'rejected')
    t.match((refused as PromiseRejectedResult).reason, { code: 'FST_SSE_HUB_UNAVAILABLE', message: /WRONGTYPE/ }, 'the refused append fails with Redis\'s reason')
    t.equal(stored.status, 'fulfilled', 'the other append of the same call is stored')
    t.equal(await engine.newest('room:ok'), (stored as PromiseFulfilledResult<string>).value)
    t.equal(await client.get('sse:not-a-stream'), 'x', 'the other key untouched')
  })

  t.test('live: every engine listening to a topic hears each event with the id before it, in order', async (t) => {
    const redis = await startRedis(t, redisPath)
    const admin = clientOf(t, redis)
    const publisher = engineOf(t, clientOf(t, redis))
    const b = engineOf(t, clientOf(t, redis))
    const c = engineOf(t, clientOf(t, redis))
    const onB = recorder()
    const onC = recorder()
    b.listen('room', onB)
    c.listen('room', onC)
    await subscribed(admin, 'sse:room', 2)
    await waitFor('the resync after subscribing', () => onB.resyncs === 1 && onC.resyncs === 1)

    const ids = await appendMany(publisher, 'room', 50)
    await waitFor('50 live entries on each', () => onB.entries.length === 50 && onC.entries.length === 50)
    for (const heard of [onB.entries, onC.entries]) {
      t.same(heard.map(e => e.id), ids, 'in publish order')
      t.same(heard.map(e => e.previousId), [ZERO_ID, ...ids.slice(0, -1)], 'each names the event before it')
      t.equal(heard[7]!.body, 'data: 7\n')
    }
    t.equal(onB.resyncs, 1, 'no further resync')
    const other = recorder()
    const stop = b.listen('other', other)
    await subscribed(admin, 'sse:other')
    stop()
    await subscribed(admin, 'sse:other', 0)
    await publisher.append('other', 'data: unheard\n')
    await publisher.append('room', 'data: heard\n')
    await waitFor('the next room entry', () => onB.entries.length === 51)
    t.same(other.entries, [], 'a stopped listener hears nothing more')
    t.throws(() => b.listen('room', recorder()), /already listening/, 'one listener per topic per engine')
  })

  t.test('live: one subscriber connection per engine, one channel per listened topic', async (t) => {
    const redis = await startRedis(t, redisPath)
    const admin = clientOf(t, redis)
    const engine = engineOf(t, clientOf(t, redis))
    t.equal(await pubsubClients(admin), 0, 'no subscriber connection before the first listen')
    const stops = Array.from({ length: 100 }, (_, i) => engine.listen(`topic:${i}`, recorder()))
    await waitFor('100 channels', async () => (await admin.call('PUBSUB', 'NUMSUB', 'sse:topic:99') as [string, number])[1] === 1)
    t.equal(await pubsubClients(admin), 1, 'one connection for all topics')
    for (const stop of stops) stop()
    await waitFor('no topic channel left', async () => (await admin.call('PUBSUB', 'CHANNELS', 'sse:topic:*') as string[]).length === 0)
  })

  t.test('a dropped subscriber connection reconnects, resubscribes and tells every listener to resync', async (t) => {
    const redis = await startRedis(t, redisPath)
    const admin = clientOf(t, redis)
    const publisher = engineOf(t, clientOf(t, redis))
    const engine = engineOf(t, clientOf(t, redis))
    const one = recorder()
    const two = recorder()
    engine.listen('one', one)
    engine.listen('two', two)
    await waitFor('the first resyncs', () => one.resyncs === 1 && two.resyncs === 1)

    const killed = await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub') as number
    t.equal(killed, 1, 'killed the engine\'s subscriber connection')
    await waitFor('a resync on each topic', () => one.resyncs === 2 && two.resyncs === 2)
    await subscribed(admin, 'sse:one')
    const id = await publisher.append('two', 'data: after\n')
    await waitFor('the live entry after the reconnect', () => two.entries.length === 1)
    t.equal(two.entries[0]!.id, id)
  })

  t.test('Redis down: append, read and newest reject with FST_SSE_HUB_UNAVAILABLE within publishTimeoutMs; a failed publish is never stored later', async (t) => {
    const redis = await startRedis(t, redisPath, { aof: true })
    const client = clientOf(t, redis)
    const engine = engineOf(t, client, { publishTimeoutMs: 300 })
    const listener = recorder()
    engine.listen('down', listener)
    await waitFor('the first resync', () => listener.resyncs === 1)
    const before = await engine.append('down', 'data: before\n')
    await redis.stop()
    // Once the client knows: a command written just before would be resent by ioredis on reconnect.
    await waitFor('the client to see the connection drop', () => client.status !== 'ready')

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['append', () => engine.append('down', 'data: lost\n')],
      ['read', () => engine.read('down', before, 10)],
      ['newest', () => engine.newest('down')]
    ]
    for (const [what, call] of calls) {
      const started = performance.now()
      await t.rejects(call(), { code: 'FST_SSE_HUB_UNAVAILABLE', statusCode: 503 }, `${what} rejects`)
      const took = performance.now() - started
      t.ok(took < 300 + 1000, `${what} within the timeout (${Math.round(took)} ms)`)
    }

    const started = performance.now()
    const many = await Promise.allSettled(Array.from({ length: 2000 }, () => engine.append('down', 'data: lost\n')))
    const took = performance.now() - started
    t.ok(many.every(result => result.status === 'rejected' && (result.reason as { code?: string }).code === 'FST_SSE_HUB_UNAVAILABLE'),
      `2,000 publishes at once: every one rejects, within the timeout (${Math.round(took)} ms)`)
    t.ok(took < 300 + 1000)

    await redis.start()
    await waitFor('the client to be ready again', () => client.status === 'ready', 10_000)
    await waitFor('a resync after Redis came back', () => listener.resyncs === 2, 10_000)
    const after = await engine.append('down', 'data: after\n')
    await new Promise(resolve => setTimeout(resolve, 200))
    const page = await engine.read('down', undefined, 10)
    t.same(page.status === 'ok' && page.entries.map(e => e.body), ['data: before\n', 'data: after\n'], 'the rejected publish was never sent')
    t.equal(await engine.newest('down'), after)
  })

  t.test('Redis restarted without persistence: old ids are history-lost; with AOF they resume exactly', async (t) => {
    for (const aof of [false, true]) {
      const redis = await startRedis(t, redisPath, { aof })
      const client = clientOf(t, redis)
      const engine = engineOf(t, client)
      const ids = await appendMany(engine, 'restart', 5)
      await redis.stop()
      await redis.start()
      await waitFor('the client to be ready again', () => client.status === 'ready', 10_000)
      if (aof) {
        t.same(await engine.read('restart', ids[1], 10).then(p => p.status === 'ok' && p.entries.map(e => e.id)), ids.slice(2), 'with AOF: the same history')
        const next = await engine.append('restart', 'data: next\n')
        t.ok(compareIds(next, ids[4]!) > 0, 'and ids go on growing')
      } else {
        t.same(await engine.read('restart', ids[1], 10), { status: 'history-lost' }, 'without: history-lost')
        t.equal(await engine.newest('restart'), ZERO_ID)
        const next = await engine.append('restart', 'data: next\n')
        t.ok(compareIds(next, ids[4]!) > 0, 'ids of the new history are larger than the lost ones')
        t.same(await engine.read('restart', ids[4], 10), { status: 'history-lost' }, 'the lost ids stay lost')
      }
    }
  })

  t.test('works through a client with a keyPrefix: keys get it, channels still match', async (t) => {
    const redis = await startRedis(t, redisPath)
    const admin = clientOf(t, redis)
    const engine = engineOf(t, clientOf(t, redis, { keyPrefix: 'app:' }), { prefix: 'events:' })
    const listener = recorder()
    engine.listen('x', listener)
    await waitFor('the first resync', () => listener.resyncs === 1)
    const id = await engine.append('x', 'data: 1\n')
    await waitFor('the live entry', () => listener.entries.length === 1)
    t.equal(listener.entries[0]!.id, id)
    t.equal(await admin.xlen('app:events:x'), 1, 'the stream key has both prefixes')
  })

  t.test('close() quits the subscriber connection it opened and leaves the client it was handed connected', async (t) => {
    const redis = await startRedis(t, redisPath)
    const admin = clientOf(t, redis)
    const client = clientOf(t, redis)
    const engine = redisEngine({ client })
    for (let i = 0; i < 20; i++) engine.listen(`c:${i}`, recorder())
    await engine.append('c:0', 'data: x\n')
    await waitFor('the subscriber connection', async () => await pubsubClients(admin) === 1)
    const clientId = await client.client('ID')
    const started = performance.now()
    await engine.close()
    t.ok(performance.now() - started < 1500, 'promptly')
    await waitFor('no subscriber connection left', async () => await pubsubClients(admin) === 0)
    const list = await admin.client('LIST') as string
    t.match(list, new RegExp(`id=${clientId} `), 'the user\'s client is still connected')
    t.equal(client.status, 'ready')
    await t.rejects(engine.append('c:0', 'data: y\n'), { code: 'FST_SSE_HUB_UNAVAILABLE' }, 'a closed engine publishes nothing')
    await engine.close() // twice is fine
  })

  t.test('a subscriber connection that stays connected and delivers nothing is found by the probe, restarted and resynced; health() says so meanwhile', async (t) => {
    const redis = await startRedis(t, redisPath)
    const client = clientOf(t, redis)
    // The engine's subscriber connection goes deaf on demand: connected, and silent.
    const silence = { on: false, readies: 0 }
    const duplicate = client.duplicate.bind(client)
    client.duplicate = ((override?: Parameters<Redis['duplicate']>[0]) => {
      const connection = duplicate(override)
      const emit = connection.emit.bind(connection)
      connection.emit = ((event: string | symbol, ...args: unknown[]) => {
        if (event === 'ready') silence.readies++
        if (event === 'message' && silence.on) return true
        return emit(event, ...args)
      }) as typeof connection.emit
      return connection
    }) as typeof client.duplicate
    const probeIntervalMs = 200
    const engine = engineOf(t, client, { probeIntervalMs })
    const publisher = engineOf(t, clientOf(t, redis))
    const listener = recorder()
    engine.listen('deaf', listener)
    await waitFor('the first resync', () => listener.resyncs >= 1)
    await waitFor('healthy', () => engine.health!().publish && engine.health!().live, 5000)
    t.same(engine.health!().reasons, [])

    silence.on = true
    const readiesBefore = silence.readies
    const resyncsBefore = listener.resyncs
    const silentAt = performance.now()
    await publisher.append('deaf', 'data: lost on the way\n')
    await waitFor('not live', () => !engine.health!().live, 5000)
    t.match(engine.health!().reasons.join(), /delivered nothing within 400 ms|subscriber connection is/, 'health says why')
    await waitFor('the connection restarted', () => silence.readies > readiesBefore, 5000)
    const foundMs = performance.now() - silentAt
    t.ok(foundMs < 2 * probeIntervalMs + 1000, `restarted ${Math.round(foundMs)} ms after it went silent (bound: two probe rounds, ${2 * probeIntervalMs} ms, plus a margin)`)
    silence.on = false
    await waitFor('a resync after the restart', () => listener.resyncs > resyncsBefore, 5000)
    await waitFor('live again', () => engine.health!().live, 5000)
    const id = await publisher.append('deaf', 'data: heard\n')
    await waitFor('the next entry live', () => listener.entries.some(e => e.id === id))
  })

  t.test('bad options throw FST_SSE_INVALID_OPTION with what is wrong', async (t) => {
    const redis = await startRedis(t, redisPath)
    const client = clientOf(t, redis, { lazyConnect: true })
    const cluster = (options: ClusterOptions): Cluster => {
      const made = new Redis.Cluster([{ host: '127.0.0.1', port: redis.port }], { lazyConnect: true, ...options })
      t.teardown(() => { made.disconnect() })
      return made
    }
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /options object/],
      [{}, /ioredis client/],
      [{ client: {} }, /ioredis client/],
      [{ client, history: 0 }, /history must be a positive integer/],
      [{ client, history: 1.5 }, /history/],
      [{ client, maxAgeMs: -1 }, /maxAgeMs/],
      [{ client, idleTtlMs: '1h' }, /idleTtlMs/],
      [{ client, publishTimeoutMs: 2 ** 31 }, /publishTimeoutMs/],
      [{ client, prefix: 1 }, /prefix must be a string/],
      [{ client, histroy: 10 }, /unknown redisEngine option "histroy"/],
      [{ client, probeIntervalMs: 0 }, /probeIntervalMs/],
      [{ client, partitions: 16385 }, /partitions must be an integer from 1 to 16384/],
      [{ client: cluster({}) }, /needs a Cluster created with shardedSubscribers: true/],
      [{ client: cluster({ shardedSubscribers: true }), prefix: '{sse}:' }, /prefix must not contain \{ or \}/],
      [{ client: cluster({ shardedSubscribers: true, keyPrefix: '{app}:' }) }, /keyPrefix without \{ or \}/]
    ]
    for (const [options, message] of cases) {
      t.throws(() => redisEngine(options as never), { code: 'FST_SSE_INVALID_OPTION', message }, JSON.stringify(options, (key, value) => key === 'client' ? '<client>' : value))
    }
  })
}

async function pubsubClients (admin: Redis): Promise<number> {
  const list = await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string
  return list.split('\n').filter(line => line.trim() !== '').length
}
