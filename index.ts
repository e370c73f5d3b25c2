// fastify-typed-sse: Server-Sent Events with typed, validated event schemas.
// The plugin entry only wires things: options, the reply and instance decorators,
// and the hooks that compile each route's events and end every stream when the
// server closes.

import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { Heartbeat } from './lib/heartbeat.js'
import { pluginSettings, streamSettings } from './lib/options.js'
import { compileEventSchemas, loadSchemaCompilers, type EventValidators } from './lib/schemas.js'
import { withSseStreams } from './lib/openapi.js'
import { SendTimeouts } from './lib/send-timeout.js'
import { StreamStats } from './lib/stats.js'
import { startStream, type StreamRegistry } from './lib/stream.js'
import type { SseOptions, SseStreamOptions } from './types/index.js'

// Async, so that a bad option rejects the registration instead of throwing out of it.
const plugin: FastifyPluginAsync<SseOptions> = async (fastify, options) => {
  const { maxStreams, streams: defaults } = pluginSettings(options)
  await loadSchemaCompilers() // before any route: typebox 1.x's compiler is ESM only
  const registry: StreamRegistry = {
    heartbeat: new Heartbeat(),
    sendTimeouts: new SendTimeouts(),
    stats: new StreamStats(),
    open: new Set(),
    maxStreams
  }
  const validatorsBySchema = new WeakMap<object, EventValidators>()

  function validatorsOf (sse: unknown, route: { method: unknown, url?: string }): EventValidators | undefined {
    if (sse === undefined || sse === null) return undefined
    let validators = validatorsBySchema.get(sse as object)
    if (validators === undefined) {
      validators = compileEventSchemas(sse, `${String(route.method)} ${route.url}`)
      validatorsBySchema.set(sse as object, validators)
    }
    return validators
  }

  fastify.addHook('onRoute', (route) => {
    validatorsOf(route.schema?.sse, route)
  })

  fastify.decorateReply('sseStream', function (this: FastifyReply, source: unknown, streamOptions?: SseStreamOptions) {
    // Routes registered before the plugin were not seen by onRoute: compiled on first use, then cached.
    const validators = validatorsOf(this.routeOptions.schema?.sse, this.routeOptions)
    startStream(this, source, streamSettings(defaults, streamOptions), validators, registry)
    return this
  })

  fastify.decorate('sseStats', () => registry.stats.snapshot())

  // Streams never end on their own, so they must end before the server waits for its connections.
  fastify.addHook('preClose', (done) => {
    for (const stream of registry.open) stream.shutdown()
    done()
  })
}

const fastifyTypedSse = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-typed-sse'
})

export default fastifyTypedSse
export { fastifyTypedSse, withSseStreams }
export type { SseTransform, SseTransformInput, SseTransformResult } from './lib/openapi.js'
export type * from './types/index.js'

// CommonJS: require('fastify-typed-sse') returns the plugin itself, with
// .default and .fastifyTypedSse pointing to it (the Fastify plugins' convention).
module.exports = Object.assign(fastifyTypedSse, { default: fastifyTypedSse, fastifyTypedSse, withSseStreams })
