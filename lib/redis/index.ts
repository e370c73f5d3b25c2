// fastify-typed-sse/redis: the hub's engine on Redis Streams, for a hub that spans
// instances. ioredis is an optional peer dependency: this entry never loads it,
// it only uses the client it is handed.

export { redisEngine } from './engine.js'
export type { RedisEngineOptions } from './options.js'
