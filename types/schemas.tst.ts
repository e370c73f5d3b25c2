// Type tests (tstyche): every schema kind `schema.sse` accepts types its route's
// events, with and without that kind's type provider: TypeBox 0.34, typebox 1.x
// (the one @fastify/type-provider-typebox 6 uses), Zod 4 and Valibot 1 (Standard
// Schema). Each rejection sits next to an accepted twin.

import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import { Type as Type034 } from '@sinclair/typebox'
// The provider re-exports typebox 1.x: its `Type` is the one its users write schemas with.
import { Type as TypeBox1, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import * as v from 'valibot'
import type { SseEventSchema, SseEventSchemas, SseInput, SseItemOf, SseStatic } from '../index.js'

const app = Fastify()

const tick = {
  typebox034: Type034.Object({ value: Type034.Number() }),
  typebox1: TypeBox1.Object({ value: TypeBox1.Number() }),
  zod: z.object({ value: z.number() }),
  valibot: v.object({ value: v.number() })
}

// Schemas whose output differs from their input.
const transforming = {
  length: z.string().transform((text) => text.length),
  page: v.object({ page: v.optional(v.number(), 1) })
}

describe('SseStatic and SseInput', () => {
  test('read the payload of each kind', () => {
    expect<SseStatic<typeof tick.typebox034>>().type.toBe<{ value: number }>()
    expect<SseStatic<typeof tick.typebox1>>().type.toBe<{ value: number }>()
    expect<SseStatic<typeof tick.zod>>().type.toBe<{ value: number }>()
    expect<SseStatic<typeof tick.valibot>>().type.toBe<{ value: number }>()
    expect<SseStatic<ReturnType<typeof TypeBox1.Union<[ReturnType<typeof TypeBox1.Literal<'low'>>, ReturnType<typeof TypeBox1.Literal<'high'>>]>>>>().type.toBe<'low' | 'high'>()
    expect<SseStatic<ReturnType<typeof TypeBox1.Unsafe<Date>>>>().type.toBe<Date>()
    expect<SseStatic<{ type: 'string' }>>().type.toBe<unknown>()
  })

  test('a Standard Schema that transforms: a route yields its input, a parsing client gets its output', () => {
    expect<SseInput<typeof transforming.length>>().type.toBe<string>()
    expect<SseStatic<typeof transforming.length>>().type.toBe<number>()
    expect<SseInput<typeof transforming.page>>().type.toBe<{ page?: number | undefined }>()
    expect<SseStatic<typeof transforming.page>>().type.toBe<{ page: number }>()
    expect<SseInput<typeof tick.typebox1>>().type.toBe<{ value: number }>()
  })

  test('SseEventSchema is each kind, and nothing else', () => {
    expect<SseEventSchema>().type.toBeAssignableFrom(tick.typebox034)
    expect<SseEventSchema>().type.toBeAssignableFrom(tick.typebox1)
    expect<SseEventSchema>().type.toBeAssignableFrom(TypeBox1.Unsafe<Date>({ type: 'string' }))
    expect<SseEventSchema>().type.toBeAssignableFrom(tick.zod)
    expect<SseEventSchema>().type.toBeAssignableFrom(tick.valibot)
    expect<SseEventSchema>().type.not.toBeAssignableFrom({ type: 'object' })
    expect<SseEventSchema>().type.not.toBeAssignableFrom('number')
    expect<SseEventSchema>().type.not.toBeAssignableFrom({ '~standard': { version: 2, validate: () => ({}) } })
  })
})

describe('a route without a type provider', () => {
  test('types each kind\'s events and rejects wrong payloads and names', () => {
    app.get('/typebox1', { schema: { sse: { tick: tick.typebox1 } } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: '1' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tock', data: { value: 1 } }])
    })
    app.get('/zod', { schema: { sse: { tick: tick.zod } } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: '1' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tock', data: { value: 1 } }])
    })
    app.get('/valibot', { schema: { sse: { tick: tick.valibot } } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: '1' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tock', data: { value: 1 } }])
    })
  })

  test('mixes kinds in one route, each event typed by its own schema', () => {
    const sse = { a: tick.typebox034, b: tick.typebox1, c: z.string(), message: v.boolean() }
    app.get('/mixed', { schema: { sse } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith(async function * () {
        yield { event: 'a', data: { value: 1 } }
        yield { event: 'b', data: { value: 2 } }
        yield { event: 'c', data: 'text' }
        yield { data: true }
      })
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'c', data: 1 }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'b', data: 'text' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: 'true' }])
    })
    expect<SseItemOf<{ sse: typeof sse }>>().type.toBeAssignableFrom<{ event: 'c', data: string }>()
    expect<SseItemOf<{ sse: typeof sse }>>().type.not.toBeAssignableFrom<{ event: 'a', data: string }>()
  })

  test('a transforming Standard Schema takes its input type', () => {
    app.get('/length', { schema: { sse: transforming } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'length', data: 'text' }, { event: 'page', data: {} }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'length', data: 4 }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'page', data: { page: '2' } }])
    })
  })

  test('schema.sse values must be schemas of a supported kind', () => {
    expect(app.get).type.toBeCallableWith('/events', { schema: { sse: { tick: tick.zod } } }, async () => {})
    expect(app.get).type.not.toBeCallableWith('/events', { schema: { sse: { tick: { type: 'object' } } } }, async () => {})
    expect(app.get).type.not.toBeCallableWith('/events', { schema: { sse: { tick: { validate: () => true } } } }, async () => {})
    const dynamic: SseEventSchemas = { tick: tick.zod, tock: tick.typebox1 }
    expect(app.get).type.toBeCallableWith('/events', { schema: { sse: dynamic } }, async () => {})
  })
})

describe('a route with @fastify/type-provider-typebox 6 (typebox 1.x)', () => {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>()

  test('types the request from the provider and the stream from schema.sse', () => {
    const Tick = TypeBox1.Object({ value: TypeBox1.Number() })
    typed.get('/events', { schema: { querystring: TypeBox1.Object({ since: TypeBox1.String() }), sse: { tick: Tick, message: TypeBox1.String() } } }, async (request, reply) => {
      expect(request.query.since).type.toBe<string>()
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }, { data: 'hello' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: 'one' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: 1 }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tock', data: { value: 1 } }])
    })
  })

  test('TypeBox 0.34 events mix with typebox 1.x request schemas', () => {
    typed.get('/mixed', { schema: { querystring: TypeBox1.Object({ since: TypeBox1.String() }), sse: { old: tick.typebox034, new: tick.typebox1 } } }, async (request, reply) => {
      expect(request.query.since).type.toBe<string>()
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'old', data: { value: 1 } }, { event: 'new', data: { value: 2 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'old', data: { value: '1' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'new', data: { value: '2' } }])
    })
  })
})

describe('a route with fastify-type-provider-zod 7', () => {
  const typed = app.withTypeProvider<ZodTypeProvider>()

  test('types the body from the provider and the stream from schema.sse', () => {
    const Delta = z.object({ delta: z.string() })
    typed.post('/chat', { schema: { body: z.object({ prompt: z.string() }), sse: { message: Delta, usage: z.object({ tokens: z.int() }) } } }, async (request, reply) => {
      expect(request.body.prompt).type.toBe<string>()
      expect(reply.sseStream).type.toBeCallableWith(async function * () {
        yield { data: { delta: 'Hel' } }
        yield { event: 'usage', data: { tokens: 2 } }
      })
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: { delta: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'usage', data: { tokens: '2' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'usge', data: { tokens: 2 } }])
    })
  })

  test('Valibot and TypeBox events mix with Zod request schemas', () => {
    typed.get('/mixed', { schema: { querystring: z.object({ room: z.string() }), sse: { v: tick.valibot, t: tick.typebox034 } } }, async (request, reply) => {
      expect(request.query.room).type.toBe<string>()
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'v', data: { value: 1 } }, { event: 't', data: { value: 2 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'v', data: { value: '1' } }])
    })
  })
})
