// redisEngine's options, checked once when the engine is built.

import type { Redis } from 'ioredis'
import { FST_SSE_INVALID_OPTION } from '../errors.js'

export interface RedisEngineOptions {
  /** An ioredis client (e.g. `@fastify/redis`'s `app.redis`). The engine duplicates it for its subscription and never quits it. */
  client: Redis
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
}

export interface RedisEngineSettings {
  readonly client: Redis
  readonly prefix: string
  readonly history: number
  readonly maxAgeMs: number | undefined
  readonly idleTtlMs: number
  readonly publishTimeoutMs: number
}

const KEYS = new Set(['client', 'prefix', 'history', 'maxAgeMs', 'idleTtlMs', 'publishTimeoutMs'])

/** The longest delay a Node timer takes. */
const MAX_TIMEOUT = 2 ** 31 - 1

export function engineSettings (options: RedisEngineOptions): RedisEngineSettings {
  if (typeof options !== 'object' || options === null) throw new FST_SSE_INVALID_OPTION('redisEngine() needs an options object with a client')
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new FST_SSE_INVALID_OPTION(`unknown redisEngine option "${key}" (known: ${[...KEYS].join(', ')})`)
  }
  const { client, prefix = 'sse:', history = 1000, maxAgeMs, idleTtlMs = 24 * 60 * 60 * 1000, publishTimeoutMs = 2000 } = options
  if (!isRedisClient(client)) {
    throw new FST_SSE_INVALID_OPTION('redisEngine client must be an ioredis client (new Redis(url), or @fastify/redis\'s app.redis)')
  }
  if ((client as { isCluster?: boolean }).isCluster === true) {
    throw new FST_SSE_INVALID_OPTION('redisEngine client must be a standalone or Sentinel ioredis client; Redis Cluster is not supported')
  }
  if (typeof prefix !== 'string' || !prefix.isWellFormed()) throw new FST_SSE_INVALID_OPTION(`redisEngine prefix must be a string, got ${typeof prefix}`)
  if (!isPositiveInteger(history)) throw new FST_SSE_INVALID_OPTION(`redisEngine history must be a positive integer (events per topic), got ${String(history)}`)
  if (maxAgeMs !== undefined && !isPositiveInteger(maxAgeMs)) throw new FST_SSE_INVALID_OPTION(`redisEngine maxAgeMs must be a positive integer number of milliseconds, got ${String(maxAgeMs)}`)
  if (!isPositiveInteger(idleTtlMs)) throw new FST_SSE_INVALID_OPTION(`redisEngine idleTtlMs must be a positive integer number of milliseconds, got ${String(idleTtlMs)}`)
  if (!isPositiveInteger(publishTimeoutMs) || publishTimeoutMs > MAX_TIMEOUT) {
    throw new FST_SSE_INVALID_OPTION(`redisEngine publishTimeoutMs must be an integer number of milliseconds from 1 to ${MAX_TIMEOUT}, got ${String(publishTimeoutMs)}`)
  }
  return { client, prefix, history, maxAgeMs, idleTtlMs, publishTimeoutMs }
}

function isPositiveInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function isRedisClient (client: unknown): client is Redis {
  if (typeof client !== 'object' || client === null) return false
  const candidate = client as Partial<Record<'duplicate' | 'evalsha' | 'eval' | 'xrevrange' | 'subscribe', unknown>> & { status?: unknown }
  return typeof candidate.duplicate === 'function' && typeof candidate.evalsha === 'function' &&
    typeof candidate.eval === 'function' && typeof candidate.xrevrange === 'function' &&
    typeof candidate.subscribe === 'function' && typeof candidate.status === 'string'
}
