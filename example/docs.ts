// The demo's API document: @fastify/swagger builds it from the routes (each stream
// from its schema.sse, through the plugin's transform) and serves it at /docs/json;
// @fastify/swagger-ui shows it at /docs. Register it before the routes it describes.

import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync, RawServerBase } from 'fastify'
import fp from 'fastify-plugin'
import { withSseStreams } from '../index.js'

export interface DocsOptions {
  /** The OpenAPI version of the document. Default `'3.2.0'`, the first that models event streams (`itemSchema`). */
  openapi?: '3.0.3' | '3.1.0' | '3.2.0'
}

const plugin: FastifyPluginAsync<DocsOptions, RawServerBase> = async (instance, options) => {
  await instance.register(swagger, {
    openapi: {
      openapi: options.openapi ?? '3.2.0',
      info: {
        title: 'fastify-typed-sse demo',
        description: 'Every stream is documented from the schemas its route declares in `schema.sse`.',
        version: '1.0.0'
      }
    },
    transform: withSseStreams()
  })
  await instance.register(swaggerUi, { routePrefix: '/docs' })
}

// Not encapsulated: @fastify/swagger must see the routes registered after it, beside it.
export const docs = fp(plugin, { name: 'demo-docs' })
