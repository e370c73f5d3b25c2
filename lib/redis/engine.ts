// The hub's engine on Redis Streams: one stream per topic holds its history (the
// resume points), one script appends and announces each event, and the live path
// (one subscription per topic per instance on one Redis, one per partition on a
// cluster) carries the notifications. Continuity is the hub's: each live message
// names the event before it.
//
// The engine owns two kinds of connections, duplicates of the user's client: one
// for its commands (replaced when it stops answering), and its subscriber(s). It never quits the user's client.

import type { Cluster, Redis } from 'ioredis'
import type { EngineEntry, EngineHealth, EnginePage, EngineListener, HubEngine } from '../hub/engine.js'
import { ZERO_ID } from '../hub/engine.js'
import { compareIds, isId } from '../hub/ids.js'
import { FST_SSE_HUB_UNAVAILABLE } from '../errors.js'
import { Deadline } from './deadline.js'
import { TopicChannels } from './live.js'
import { engineSettings, type RedisEngineOptions } from './options.js'
import type { LivePath } from './probe.js'
import { APPEND, READ, ScriptRunner } from './scripts.js'
import { PartitionChannels } from './sharded.js'
import { keySlot, partitionOf, partitionTags } from './slots.js'
import { hubId, splitHubId } from './tags.js'
import { AppendBatches, type QueuedAppend } from './appends.js'

type StreamEntry = [id: string, fields: string[]]

type ReadReply =
  | ['ok', StreamEntry[]]
  | ['trimmed' | 'gone' | 'other']
  | ['miss', first: string, last: string]

const TRIMMED: EnginePage = { status: 'history-lost' }
const UNKNOWN: EnginePage = { status: 'unknown-id' }

/** Where a topic lives: its stream key, the channel its events are announced on, and the head of each message. */
interface Placement {
  readonly key: string
  readonly channel: string
  readonly head: string
}

export function redisEngine (options: RedisEngineOptions): HubEngine {
  const settings = engineSettings(options)
  const { prefix, history, maxAgeMs, idleTtlMs, publishTimeoutMs, probeIntervalMs } = settings
  const commands = commandConnection(settings.client, settings.cluster)
  commands.on('error', () => {}) // failures reach the callers, as FST_SSE_HUB_UNAVAILABLE
  const scripts = new ScriptRunner(commands)
  // A command with no answer on a "ready" connection: a new socket rather than trust this one.
  const deadline = new Deadline(commands, publishTimeoutMs, settings.cluster
    ? (key) => replaceNode(commands as Cluster, key)
    : () => commands.disconnect(true))
  const publishCommand = settings.cluster ? 'SPUBLISH' : 'PUBLISH'
  let place: (topic: string) => Placement
  let live: LivePath
  if (settings.cluster) {
    const count = settings.partitions
    const tagged = partitionTags(count).map(tag => `${prefix}{${tag}}`)
    const partition = (topic: string): number => partitionOf(topic, count)
    place = (topic) => {
      const channel = tagged[partition(topic)] as string
      return { key: channel + topic, channel, head: topic + '\n' }
    }
    live = new PartitionChannels(settings.client as Cluster, commands as Cluster, tagged, partition)
  } else {
    place = (topic) => ({ key: prefix + topic, channel: prefix + topic, head: '' })
    live = new TopicChannels(settings.client as Redis, commands as Redis, prefix)
  }
  // The script's fixed arguments, as Redis receives them, made once.
  const historyArg = String(history)
  const idleTtlArg = String(idleTtlMs)
  const maxAgeArg = String(maxAgeMs ?? 0)
  const sendAppends = (batch: readonly QueuedAppend[]): void => {
    const keys: string[] = new Array(batch.length)
    // Past this time Redis refuses the batch: ioredis may retry a command on a new master
    // after a failover, and one whose callers were told it failed must not land after later ones.
    const args: string[] = [historyArg, idleTtlArg, maxAgeArg, publishCommand, String(Date.now() + publishTimeoutMs)]
    for (let i = 0; i < batch.length; i++) {
      const append = batch[i] as QueuedAppend
      keys[i] = append.key
      args.push(append.body, append.channel, append.head, append.tag)
    }
    // The keys may get the client's keyPrefix; the channels are sent as they are.
    deadline.call('publish', keys[0] as string, () => scripts.run(APPEND, keys, args) as Promise<string[]>).then((ids) => {
      for (let i = 0; i < batch.length; i++) {
        const id = ids[i] as string
        const append = batch[i] as QueuedAppend
        if (id.charCodeAt(0) === 33 /* ! */) append.reject(new FST_SSE_HUB_UNAVAILABLE(`publish: Redis refused it: ${id.slice(1)}`))
        else append.resolve(id)
      }
    }, (err: unknown) => {
      for (const append of batch) append.reject(err)
    })
  }
  const appends = new AppendBatches(sendAppends, settings.cluster)
  // A subscription is live if heard from within two probe rounds.
  const livenessMs = 2 * probeIntervalMs
  let probeTimer: NodeJS.Timeout | undefined
  let closed = false

  const ensureOpen = (what: string): void => {
    if (closed) throw new FST_SSE_HUB_UNAVAILABLE(`${what}: the engine is closed`)
  }

  return {
    // Not async: the hot path, one promise per publish.
    append (topic: string, body: string): Promise<string> {
      if (closed) return Promise.reject(new FST_SSE_HUB_UNAVAILABLE('publish: the engine is closed'))
      const { key, channel, head } = place(topic)
      return appends.add(key, channel, head, body)
    },

    async read (topic: string, afterId: string | undefined, limit: number): Promise<EnginePage> {
      ensureOpen('read')
      if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`read limit must be a positive integer, got ${String(limit)}`)
      if (afterId !== undefined && !isId(afterId)) return UNKNOWN
      const { key } = place(topic)
      const [after, tag] = afterId === undefined ? ['', ''] : splitHubId(afterId)
      if (after !== ZERO_ID) {
        // The common case in one plain command, as the script would do it but without
        // Lua's copy of every entry (half the time of a replay): an inclusive XRANGE from
        // the id, whose first entry proves it a resume point. Anything else: the script.
        const page = await deadline.call('read', key, () => after === ''
          ? commands.xrange(key, '-', '+', 'COUNT', limit)
          : commands.xrange(key, after, '+', 'COUNT', limit + 1)) as StreamEntry[]
        if (after === '') return { status: 'ok', entries: page.map(toEntry) }
        const first = page[0]
        if (first !== undefined && first[0] === after && (tag === '' || first[1][0] === tag)) {
          return { status: 'ok', entries: page.slice(1).map(toEntry) }
        }
      }
      const reply = await deadline.call('read', key, () =>
        scripts.run(READ, [key], [after, tag, limit]) as Promise<ReadReply>)
      switch (reply[0]) {
        case 'ok': return { status: 'ok', entries: reply[1].map(toEntry) }
        case 'trimmed': return TRIMMED
        // The stream expired or Redis lost it: the topic had this id, the history no longer does.
        case 'gone': return TRIMMED
        // Another event at this position: the history the id came from was lost (or replaced).
        case 'other': return TRIMMED
        case 'miss': {
          const [, first, last] = reply
          const id = afterId as string
          if (compareIds(id, last) > 0) return UNKNOWN // newer than anything published
          return compareIds(id, first) < 0 ? TRIMMED : UNKNOWN // trimmed, or inside the history but no event
        }
      }
    },

    async newest (topic: string): Promise<string> {
      ensureOpen('newest')
      const { key } = place(topic)
      const last = await deadline.call('newest', key, () => commands.xrevrange(key, '+', '-', 'COUNT', 1))
      const entry = last[0]
      return entry === undefined ? ZERO_ID : hubId(entry[0], entry[1][0])
    },

    listen (topic: string, listener: EngineListener): () => void {
      ensureOpen('listen')
      probeTimer ??= setInterval(() => live.probeRound(), probeIntervalMs).unref()
      return live.listen(settings.cluster ? topic : prefix + topic, listener)
    },

    health (): EngineHealth {
      const reasons: string[] = []
      if (closed) return { publish: false, live: false, reasons: ['the engine is closed'] }
      const status = commands.status
      if (deadline.failure !== undefined) reasons.push(deadline.failure)
      else if (status !== 'ready' && status !== 'wait') reasons.push(`the command connection is ${status}`)
      const publish = reasons.length === 0
      const unconfirmed = live.unconfirmed(performance.now(), livenessMs)
      reasons.push(...unconfirmed)
      return { publish, live: unconfirmed.length === 0, reasons }
    },

    async close (): Promise<void> {
      if (closed) return
      closed = true
      clearInterval(probeTimer)
      deadline.close()
      await Promise.all([live.close(), quitCommands(commands)])
    }
  }
}

/**
 * The engine's own command connection, never resending a command after a reconnect (its
 * caller was already told it failed); it connects on the first command. Not auto-pipelined:
 * ioredis keeps one auto-pipeline in flight per node and queues the rest behind it, which
 * put hub-redis's p50 at 242 ms against 35 ms without it on a loaded machine; on a cluster,
 * pipelines that met a failover also handed MOVED errors to their callers, where single
 * commands are redirected.
 */
function commandConnection (client: Redis | Cluster, cluster: boolean): Redis | Cluster {
  if (cluster) {
    const source = client as Cluster
    return source.duplicate([], {
      enableAutoPipelining: false,
      lazyConnect: true,
      redisOptions: { ...source.options.redisOptions, autoResendUnfulfilledCommands: false }
    })
  }
  return (client as Redis).duplicate({ autoResendUnfulfilledCommands: false, lazyConnect: true })
}

/**
 * On a cluster, a command that got no answer points at one master's connection: that one is
 * dropped (the cluster makes a new one) and the slots are asked again, as the master may
 * have been replaced. The other masters' connections are left alone.
 */
function replaceNode (commands: Cluster, key: string): void {
  const keyPrefix = (commands.options as { keyPrefix?: string }).keyPrefix ?? ''
  const owner = commands.slots[keySlot(keyPrefix + key)]?.[0]
  const node = commands.nodes('master').find(node => `${node.options.host ?? ''}:${node.options.port ?? ''}` === owner)
  node?.disconnect()
  commands.refreshSlotsCache()
}

async function quitCommands (commands: Redis | Cluster): Promise<void> {
  if (commands.status === 'wait') {
    commands.disconnect()
    return
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    commands.quit().catch(() => {}),
    new Promise(resolve => { timer = setTimeout(resolve, 1000) })
  ])
  clearTimeout(timer)
  commands.disconnect()
}

function toEntry ([id, fields]: StreamEntry): EngineEntry {
  return { id: hubId(id, fields[0]), body: fields[1] ?? '' }
}
