// Type tests (tstyche) of fastify-typed-sse/redis: what redisEngine takes and gives.
// Every rejection sits next to an accepted twin.

import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import { Redis, Cluster } from 'ioredis'
import { createHub, type HubEngine } from '../lib/hub/index.js'
import { redisEngine, type RedisEngineOptions } from '../lib/redis/index.js'
import { Type } from '@sinclair/typebox'

declare const client: Redis
declare const cluster: Cluster

describe('redisEngine', () => {
  test('takes an ioredis client and gives a hub engine', () => {
    expect(redisEngine({ client })).type.toBe<HubEngine>()
    expect(redisEngine({ client, prefix: 'app:', history: 5000, maxAgeMs: 60_000, idleTtlMs: 3_600_000, publishTimeoutMs: 1000 })).type.toBe<HubEngine>()
    expect(createHub({ events: { note: Type.String() }, engine: redisEngine({ client }) })).type.not.toRaiseError()
  })

  test('takes @fastify/redis\'s app.redis', async () => {
    const app = Fastify()
    await app.register(fastifyRedis, { url: 'redis://127.0.0.1' })
    expect(redisEngine({ client: app.redis })).type.toBe<HubEngine>()
  })

  test('needs a client: standalone, Sentinel or a Cluster', () => {
    expect(redisEngine).type.not.toBeCallableWith({})
    expect(redisEngine).type.not.toBeCallableWith({ client: {} })
    expect(redisEngine).type.toBeCallableWith({ client: cluster })
    expect(redisEngine({ client: cluster, partitions: 32, probeIntervalMs: 1000 })).type.toBe<HubEngine>()
    expect(redisEngine).type.toBeCallableWith({ client })
  })

  test('options have their types, and no others', () => {
    expect(redisEngine).type.not.toBeCallableWith({ client, history: '1000' })
    expect(redisEngine).type.not.toBeCallableWith({ client, prefix: 1 })
    expect(redisEngine).type.not.toBeCallableWith({ client, histroy: 1000 })
    expect(redisEngine).type.not.toBeCallableWith({ client, partitions: '64' })
    expect(redisEngine).type.toBeCallableWith({ client, partitions: 64 })
    expect(redisEngine).type.toBeCallableWith({ client, history: 1000 })
    expect<RedisEngineOptions['maxAgeMs']>().type.toBe<number | undefined>()
  })
})
