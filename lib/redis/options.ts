// redisEngine's options, checked once when the engine is built.

import type { Cluster, Redis } from 'ioredis'
import { FST_SSE_INVALID_OPTION } from '../errors.js'

export interface RedisEngineOptions {
  /**
   * An ioredis client (e.g. `@fastify/redis`'s `app.redis`): standalone, Sentinel, or a
   * `Cluster` created with `shardedSubscribers: true`. The engine duplicates it for its
   * own connections and never quits it.
   */
  client: Redis | Cluster
  /** Prepended to each topic to name its stream key and its channel. Default `'sse:'`. */
  prefix?: string
  /** Events kept per topic (at least; trimming is approximate). Default 1000. */
  history?: number
  /** Events older than this are trimmed (approximately) when the topic is published to. Default: no age limit. */
  maxAgeMs?: number
  /** A topic's history is dropped this long after its last publish. Default 24 hours. */
  idleTtlMs?: number
  /** Each call to Redis answers within this time or fails with FST_SSE_HUB_UNAVAILABLE. Default 2000. */
  publishTimeoutMs?: number
  /**
   * Every this often, each subscriber connection (each partition on a cluster) is sent a
   * probe; one whose probe has not come back by the next round, and that delivered nothing
   * meanwhile, is restarted and its topics resynced. Default 5000.
   */
  probeIntervalMs?: number
  /** On a Redis Cluster: the number of partitions the topics' live messages are spread over. Default 64. */
  partitions?: number
}

export interface RedisEngineSettings {
  readonly client: Redis | Cluster
  readonly cluster: boolean
  readonly prefix: string
  readonly history: number
  readonly maxAgeMs: number | undefined
  readonly idleTtlMs: number
  readonly publishTimeoutMs: number
  readonly probeIntervalMs: number
  readonly partitions: number
}

const KEYS = new Set(['client', 'prefix', 'history', 'maxAgeMs', 'idleTtlMs', 'publishTimeoutMs', 'probeIntervalMs', 'partitions'])

/** At most one partition per slot. */
const MAX_PARTITIONS = 16384

/** The longest delay a Node timer takes. */
const MAX_TIMEOUT = 2 ** 31 - 1

export function engineSettings (options: RedisEngineOptions): RedisEngineSettings {
  if (typeof options !== 'object' || options === null) throw new FST_SSE_INVALID_OPTION('redisEngine() needs an options object with a client')
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new FST_SSE_INVALID_OPTION(`unknown redisEngine option "${key}" (known: ${[...KEYS].join(', ')})`)
  }
  const {
    client, prefix = 'sse:', history = 1000, maxAgeMs, idleTtlMs = 24 * 60 * 60 * 1000, publishTimeoutMs = 2000,
    probeIntervalMs = 5000, partitions = 64
  } = options
  if (!isRedisClient(client)) {
    throw new FST_SSE_INVALID_OPTION('redisEngine client must be an ioredis client (new Redis(url), new Redis.Cluster(nodes, { shardedSubscribers: true }), or @fastify/redis\'s app.redis)')
  }
  const cluster = (client as { isCluster?: boolean }).isCluster === true
  if (typeof prefix !== 'string' || !prefix.isWellFormed()) throw new FST_SSE_INVALID_OPTION(`redisEngine prefix must be a string, got ${typeof prefix}`)
  if (cluster) checkCluster(client as Cluster, prefix)
  if (!isPositiveInteger(history)) throw new FST_SSE_INVALID_OPTION(`redisEngine history must be a positive integer (events per topic), got ${String(history)}`)
  if (maxAgeMs !== undefined && !isPositiveInteger(maxAgeMs)) throw new FST_SSE_INVALID_OPTION(`redisEngine maxAgeMs must be a positive integer number of milliseconds, got ${String(maxAgeMs)}`)
  if (!isPositiveInteger(idleTtlMs)) throw new FST_SSE_INVALID_OPTION(`redisEngine idleTtlMs must be a positive integer number of milliseconds, got ${String(idleTtlMs)}`)
  if (!isPositiveInteger(publishTimeoutMs) || publishTimeoutMs > MAX_TIMEOUT) {
    throw new FST_SSE_INVALID_OPTION(`redisEngine publishTimeoutMs must be an integer number of milliseconds from 1 to ${MAX_TIMEOUT}, got ${String(publishTimeoutMs)}`)
  }
  if (!isPositiveInteger(probeIntervalMs) || probeIntervalMs > MAX_TIMEOUT) {
    throw new FST_SSE_INVALID_OPTION(`redisEngine probeIntervalMs must be an integer number of milliseconds from 1 to ${MAX_TIMEOUT}, got ${String(probeIntervalMs)}`)
  }
  if (!isPositiveInteger(partitions) || partitions > MAX_PARTITIONS) {
    throw new FST_SSE_INVALID_OPTION(`redisEngine partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${String(partitions)}`)
  }
  return { client, cluster, prefix, history, maxAgeMs, idleTtlMs, publishTimeoutMs, probeIntervalMs, partitions }
}

/** What the engine needs of a Cluster client: sharded subscribers, and hash tags of its own. */
function checkCluster (client: Cluster, prefix: string): void {
  const options = client.options as { shardedSubscribers?: boolean, keyPrefix?: string, redisOptions?: { keyPrefix?: string } }
  if (options.shardedSubscribers !== true) {
    throw new FST_SSE_INVALID_OPTION('redisEngine on a Redis Cluster needs a Cluster created with shardedSubscribers: true (new Redis.Cluster(nodes, { shardedSubscribers: true })): without it sharded messages never arrive')
  }
  // Every key and channel of a topic carries the engine's hash tag; another tag would split them over slots.
  if (/[{}]/.test(prefix)) throw new FST_SSE_INVALID_OPTION(`redisEngine prefix must not contain { or } on a Redis Cluster (the engine adds its own hash tags), got ${JSON.stringify(prefix)}`)
  const keyPrefix = options.keyPrefix ?? options.redisOptions?.keyPrefix ?? ''
  if (/[{}]/.test(keyPrefix)) throw new FST_SSE_INVALID_OPTION(`redisEngine on a Redis Cluster needs a client keyPrefix without { or } (the engine adds its own hash tags), got ${JSON.stringify(keyPrefix)}`)
}

function isPositiveInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function isRedisClient (client: unknown): client is Redis | Cluster {
  if (typeof client !== 'object' || client === null) return false
  const candidate = client as Partial<Record<'duplicate' | 'evalsha' | 'eval' | 'xrevrange' | 'subscribe', unknown>> & { status?: unknown }
  return typeof candidate.duplicate === 'function' && typeof candidate.evalsha === 'function' &&
    typeof candidate.eval === 'function' && typeof candidate.xrevrange === 'function' &&
    typeof candidate.subscribe === 'function' && typeof candidate.status === 'string'
}
