// What the benchmark runs: the contenders, the workloads and their sizes.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ReadyWhen } from './protocol.js'

export const ROOT = join(__dirname, '..')

export interface Contender {
  id: string
  label: string
  /** server file, relative to bench/ */
  file: string
  env?: Record<string, string>
  /** runs only in the workloads that name it (the hub's own contenders and references) */
  dedicated?: boolean
  /** when the client counts one of its streams as subscribed (default: when the headers arrived) */
  ready?: ReadyWhen
  /** resumes a stream from its last event id (hub-redis times the replay) */
  replays?: boolean
}

function version (name: string): string {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
  return manifest.version
}

export const REFERENCE = 'node-http'
/** hub-redis compares with the cheapest design across instances instead. */
export const REDIS_REFERENCE = 'redis-pubsub'
/** hub-redis-cluster: sharded PUB/SUB by hand on the same cluster. */
export const REDIS_SHARDED_REFERENCE = 'redis-spubsub'

export function contenders (): Contender[] {
  return [
    { id: REFERENCE, label: 'node:http by hand (reference)', file: 'server/node-http.ts' },
    { id: 'fastify-raw', label: 'Fastify + reply.raw by hand', file: 'server/fastify-raw.ts' },
    { id: 'fastify-sse', label: `@fastify/sse ${version('@fastify/sse')}`, file: 'server/fastify-sse.ts' },
    { id: 'fastify-sse-v2', label: `fastify-sse-v2 ${version('fastify-sse-v2')}`, file: 'server/fastify-sse-v2.ts' },
    { id: 'better-sse', label: `better-sse ${version('better-sse')}`, file: 'server/better-sse.ts' },
    { id: 'typed-sse', label: 'fastify-typed-sse, validate', file: 'server/typed-sse.ts', env: { BENCH_VALIDATE: '1' } },
    { id: 'typed-sse-novalidate', label: 'fastify-typed-sse, validate: false', file: 'server/typed-sse.ts', env: { BENCH_VALIDATE: '0' } },
    { id: 'typed-sse-hub', label: 'fastify-typed-sse hub, memory engine', file: 'server/typed-sse-hub.ts', dedicated: true, ready: 'position' },
    { id: REDIS_REFERENCE, label: 'Redis PUB/SUB by hand (reference)', file: 'server/redis-pubsub.ts', dedicated: true },
    { id: REDIS_SHARDED_REFERENCE, label: 'Redis sharded PUB/SUB by hand (reference)', file: 'server/redis-spubsub.ts', dedicated: true },
    { id: 'typed-sse-hub-redis', label: 'fastify-typed-sse hub, Redis engine', file: 'server/typed-sse-hub.ts', dedicated: true, ready: 'position', replays: true }
  ]
}

export interface Settings {
  quick: boolean
  /** repetitions of burst and tokens */
  reps: number
  /** repetitions of the fanout workloads (10 s of broadcast each, per contender) */
  fanoutReps: number
  /** repetitions of churn and abort */
  cycleReps: number
  burstEvents: number
  tokenEvents: number
  /** events of the unmeasured stream that warms up each server before burst and tokens */
  warmupEvents: number
  fanoutSmall: number
  fanoutLarge: number
  fanoutEvents: number
  fanoutIntervalMs: number
  churnCycles: number
  abortCycles: number
  cycleConcurrency: number
  /** abort: how long a client stops reading before it leaves */
  abortStallMs: number
  /** repetitions of the hub workloads */
  hubReps: number
  hubSmall: number
  hubLarge: number
  hubEvents: number
  hubIntervalMs: number
  /** streams per client process (each process has its own open-files limit) */
  streamsPerClient: number
  redisTopics: number
  /** events per second in all, half published on each instance */
  redisPerSecond: number
  redisDurationMs: number
  /** streams per topic on each instance */
  redisStreamsPerTopic: number
  /** share of the live messages thrown away between Redis and each instance */
  redisDropShare: number
  /** events missed by a client, replayed on resume */
  redisReplayEvents: number
}

export const FULL: Settings = {
  quick: false,
  reps: 3,
  fanoutReps: 1,
  cycleReps: 1,
  burstEvents: 200_000,
  tokenEvents: 200_000,
  warmupEvents: 20_000,
  fanoutSmall: 1000,
  fanoutLarge: 5000,
  fanoutEvents: 100,
  fanoutIntervalMs: 100,
  churnCycles: 5000,
  // Each abort cycle makes the server write ~0.5 MB before the socket pushes back.
  abortCycles: 1000,
  cycleConcurrency: 50,
  abortStallMs: 20,
  hubReps: 1,
  hubSmall: 5000,
  hubLarge: 19_000,
  hubEvents: 50,
  hubIntervalMs: 100,
  streamsPerClient: 5000,
  redisTopics: 1000,
  redisPerSecond: 10_000,
  redisDurationMs: 10_000,
  redisStreamsPerTopic: 1,
  redisDropShare: 0.01,
  redisReplayEvents: 10_000
}

export const QUICK: Settings = {
  quick: true,
  reps: 1,
  fanoutReps: 1,
  cycleReps: 1,
  burstEvents: 20_000,
  tokenEvents: 20_000,
  warmupEvents: 2000,
  fanoutSmall: 200,
  fanoutLarge: 500,
  fanoutEvents: 20,
  fanoutIntervalMs: 100,
  churnCycles: 500,
  abortCycles: 500,
  cycleConcurrency: 25,
  abortStallMs: 20,
  hubReps: 1,
  hubSmall: 500,
  hubLarge: 2000,
  hubEvents: 20,
  hubIntervalMs: 100,
  // Small enough that the quick run spreads its larger count over several clients too.
  streamsPerClient: 800,
  redisTopics: 100,
  redisPerSecond: 2000,
  redisDurationMs: 3000,
  redisStreamsPerTopic: 1,
  redisDropShare: 0.01,
  redisReplayEvents: 2000
}
