// Type tests of the CommonJS typings (types/commonjs.d.ts, published as
// dist/cjs/index.d.ts): `import x = require('fastify-typed-sse')` is the plugin.

import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import fastifyTypedSse = require('./commonjs.js')
import * as entry from '../index.js'

const app = Fastify()

describe('import fastifyTypedSse = require(\'fastify-typed-sse\')', () => {
  test('is the plugin: register takes it with its options', () => {
    expect(app.register).type.toBeCallableWith(fastifyTypedSse)
    expect(app.register).type.toBeCallableWith(fastifyTypedSse, { heartbeatInterval: 1000 })
    expect(app.register).type.toBeCallableWith(fastifyTypedSse, { maxStreams: 10, sendTimeout: 0 })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { heartbeatInterval: '1000' })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { done: '[DONE]' })
  })

  test('.default and .fastifyTypedSse are the plugin, as at run time', () => {
    expect(fastifyTypedSse.default).type.toBe(entry.default)
    expect(fastifyTypedSse.fastifyTypedSse).type.toBe(entry.fastifyTypedSse)
    expect(app.register).type.toBeCallableWith(fastifyTypedSse.default, { retry: 3000 })
    expect(app.register).type.toBeCallableWith(fastifyTypedSse.fastifyTypedSse, { retry: 3000 })
  })

  test('carries every value export of the entry', () => {
    expect<Exclude<keyof typeof entry, keyof typeof fastifyTypedSse>>().type.toBe<never>()
  })

  test('carries the package\'s types', () => {
    expect<fastifyTypedSse.SseOptions>().type.toBe<entry.SseOptions>()
    expect<fastifyTypedSse.SseStreamOptions>().type.toBe<entry.SseStreamOptions>()
    expect<fastifyTypedSse.SseStats>().type.toBe<entry.SseStats>()
    expect<fastifyTypedSse.SseEvent<'tick', { value: number }>>().type.toBe<entry.SseEvent<'tick', { value: number }>>()
    expect<fastifyTypedSse.SseEndReason>().type.toBe<'finished' | 'clientGone' | 'failed' | 'invalidEvent' | 'stalled' | 'shutdown'>()
  })
})
