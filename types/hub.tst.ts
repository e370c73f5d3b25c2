// Type tests (tstyche) of fastify-typed-sse/hub: what publish accepts, and which
// routes may stream a subscription. Every rejection sits next to an accepted twin.

import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import '../index.js'
import { createHub, HubReset, memoryEngine, type Hub, type HubEngine, type HubHealth, type HubResetData, type HubStreamItem } from '../lib/hub/index.js'

const Message = Type.Object({ from: Type.String(), text: Type.String() })
const Typing = Type.Object({ from: Type.String() })
const Other = Type.Object({ value: Type.Number() })
const hub = createHub({ events: { message: Message, typing: Typing } })
const app = Fastify()

describe('createHub', () => {
  test('infers the events; hub.events adds reset', () => {
    expect(hub).type.toBe<Hub<{ message: typeof Message, typing: typeof Typing }>>()
    expect(hub.events).type.toBe<{ message: typeof Message, typing: typeof Typing } & { reset: typeof HubReset }>()
    expect<HubResetData>().type.toBe<{ reason: 'unknown-id' | 'history-lost' }>()
  })

  test('takes an engine; reset may not be declared', () => {
    expect(createHub).type.toBeCallableWith({ events: { message: Message }, engine: memoryEngine({ history: 10 }) })
    expect(createHub).type.not.toBeCallableWith({ events: { message: Message, reset: Message } })
    expect(createHub).type.not.toBeCallableWith({ events: { message: Message }, engine: { append: async () => '1-0' } })
    expect(memoryEngine()).type.toBeAssignableTo<HubEngine>()
  })

  test('health() is synchronous and read-only; an engine may leave health out', () => {
    expect(hub.health()).type.toBe<HubHealth>()
    expect<HubHealth['reasons']>().type.toBe<readonly string[]>()
    expect(createHub).type.toBeCallableWith({ events: { message: Message }, engine: { ...memoryEngine(), health: () => ({ publish: true, live: false, reasons: ['probe unanswered'] }) } })
    expect(createHub).type.not.toBeCallableWith({ events: { message: Message }, engine: { ...memoryEngine(), health: async () => ({ publish: true, live: true, reasons: [] }) } })
  })
})

describe('publish', () => {
  test('a declared event with its payload; message may leave out event', () => {
    expect(hub.publish).type.toBeCallableWith('room:1', { event: 'typing', data: { from: 'ann' } })
    expect(hub.publish).type.toBeCallableWith('room:1', { data: { from: 'ann', text: 'hi' } })
    expect(hub.publish).type.toBeCallableWith('room:1', { event: 'message', data: { from: 'ann', text: 'hi' } })
    expect(hub.publish('room:1', { data: { from: 'ann', text: 'hi' } })).type.toBe<Promise<string>>()
  })

  test('an undeclared name, a wrong payload, an id or a retry is a compile error', () => {
    expect(hub.publish).type.not.toBeCallableWith('room:1', { event: 'shout', data: { from: 'ann' } })
    expect(hub.publish).type.not.toBeCallableWith('room:1', { event: 'typing', data: { from: 1 } })
    expect(hub.publish).type.not.toBeCallableWith('room:1', { event: 'typing', data: { text: 'hi' } })
    expect(hub.publish).type.not.toBeCallableWith('room:1', { data: { from: 'ann' } }) // a message needs text
    expect(hub.publish).type.not.toBeCallableWith('room:1', { event: 'typing', data: { from: 'ann' }, id: '5' })
    expect(hub.publish).type.not.toBeCallableWith('room:1', { event: 'typing', data: { from: 'ann' }, retry: 10 })
    expect(hub.publish).type.not.toBeCallableWith('room:1', { event: 'reset', data: { reason: 'unknown-id' } })
  })
})

describe('subscribe on a route', () => {
  test('compiles where the route declares hub.events, alone or with its own events', () => {
    app.get('/a', { schema: { sse: hub.events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith(hub.subscribe('room:1'))
      expect(reply.sseStream).type.toBeCallableWith(hub.subscribe('room:1', { from: 'earliest', onGap: 'end', lastEventId: '1-0' }))
    })
    app.get('/b', { schema: { sse: { ...hub.events, other: Other } } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith(hub.subscribe('room:1'))
    })
    app.withTypeProvider<TypeBoxTypeProvider>().get('/c', { schema: { sse: hub.events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith(hub.subscribe('room:1'))
    })
  })

  test('is a compile error where the route lacks one of the hub\'s events or reset', () => {
    app.get('/d', { schema: { sse: { message: Message, typing: Typing } } }, async (_request, reply) => {
      expect(reply.sseStream).type.not.toBeCallableWith(hub.subscribe('room:1')) // no reset
    })
    app.get('/e', { schema: { sse: { message: Message, reset: HubReset } } }, async (_request, reply) => {
      expect(reply.sseStream).type.not.toBeCallableWith(hub.subscribe('room:1')) // no typing
    })
    app.get('/f', { schema: { sse: { ...hub.events, typing: Other } } }, async (_request, reply) => {
      expect(reply.sseStream).type.not.toBeCallableWith(hub.subscribe('room:1')) // typing with another payload
    })
    app.withTypeProvider<TypeBoxTypeProvider>().get('/g', { schema: { sse: { other: Other } } }, async (_request, reply) => {
      expect(reply.sseStream).type.not.toBeCallableWith(hub.subscribe('room:1'))
    })
  })

  test('options are typed', () => {
    expect(hub.subscribe).type.not.toBeCallableWith('room:1', { from: 'start' })
    expect(hub.subscribe).type.not.toBeCallableWith('room:1', { onGap: 'ignore' })
    expect(hub.subscribe).type.not.toBeCallableWith('room:1', { lastEventId: 5 })
  })

  test('what the client receives: the events with their ids, reset, and the position', () => {
    expect<HubStreamItem<{ typing: typeof Typing }>>().type.toBe<
      | { event: 'typing', data: { from: string }, id: string }
      | { event: 'reset', data: HubResetData, id: string }
      | import('../index.js').SsePosition
    >()
  })
})
