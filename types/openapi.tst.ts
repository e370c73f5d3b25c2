// Type tests (tstyche): withSseStreams() is a @fastify/swagger `transform`, alone or
// around the user's own transform, without the package depending on @fastify/swagger's types.

import { describe, expect, test } from 'tstyche'
import swagger, { type FastifyDynamicSwaggerOptions, type SwaggerTransform } from '@fastify/swagger'
import Fastify from 'fastify'
import { withSseStreams, type SseTransform } from '../index.js'

type Transform = NonNullable<FastifyDynamicSwaggerOptions['transform']>

describe('withSseStreams', () => {
  test('is a @fastify/swagger transform', () => {
    expect(withSseStreams()).type.toBeAssignableTo<Transform>()
    expect(withSseStreams()).type.toBe<SseTransform>()
    const app = Fastify()
    expect(app.register(swagger, { openapi: { openapi: '3.2.0' }, transform: withSseStreams() })).type.not.toRaiseError()
  })

  test("wraps the user's transform, typed by @fastify/swagger's own type", () => {
    const mine: SwaggerTransform = ({ schema, url }) => ({ schema, url: url.replace('/v1', '') })
    expect(withSseStreams(mine)).type.toBeAssignableTo<Transform>()
    expect(withSseStreams(({ schema, url, route }) => ({ schema: { ...schema, summary: String(route.method) }, url }))).type.toBeAssignableTo<Transform>()
    expect(withSseStreams(({ url }) => ({ url }))).type.toBeAssignableTo<Transform>()
  })

  test('refuses what is not a transform', () => {
    expect(withSseStreams).type.not.toBeCallableWith('mine')
    expect(withSseStreams).type.not.toBeCallableWith(() => 'not a result')
    expect(withSseStreams).type.toBeCallableWith(() => ({}))
  })
})
