// Type tests (tstyche) of fastify-typed-sse/client: an item's data is the static
// type of its event's schema (TypeBox 0.34, typebox 1.x, Zod 4, Valibot 1), the
// event name narrows it, `reset` is always there, and a wrong name or payload
// access does not compile. Each rejection sits beside an accepted twin.

import { describe, expect, test } from 'tstyche'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { Type as Type1 } from '@fastify/type-provider-typebox' // typebox 1.x
import type { Value as TypeBox1Value } from 'typebox/value' with { 'resolution-mode': 'import' }
import * as v from 'valibot'
import { z } from 'zod'
import {
  eventStream,
  hubReset,
  typedEventSource,
  SseHttpError,
  SseValidationError,
  type EventStream,
  type SseClientEvent,
  type SseClientStatic,
  type SseResetData,
  type SseUntypedEvent
} from '../lib/client/index.js'

declare const Value1: typeof TypeBox1Value

const roomEvents = {
  message: Type.Object({ from: Type.String(), text: Type.String() }),
  typing: Type.Object({ from: Type.String() }),
  topic: Type.String(),
  reset: hubReset
}

describe('SseClientStatic', () => {
  test('reads each schema kind', () => {
    expect<SseClientStatic<typeof roomEvents.message>>().type.toBe<{ from: string, text: string }>()
    expect<SseClientStatic<ReturnType<typeof Type1.Object<{ n: ReturnType<typeof Type1.Integer> }>>>>().type.toBe<{ n: number }>()
    expect<SseClientStatic<z.ZodObject<{ n: z.ZodNumber }>>>().type.toBe<{ n: number }>()
    expect<SseClientStatic<v.ObjectSchema<{ n: v.NumberSchema<undefined> }, undefined>>>().type.toBe<{ n: number }>()
    expect<SseClientStatic<{ type: 'string' }>>().type.toBe<unknown>()
  })
})

describe('eventStream', () => {
  test('data is typed per event name; a declared reset narrows too', async () => {
    const stream = eventStream('/rooms/42/events', { events: roomEvents, validate: Value.Check })
    expect(stream).type.toBe<EventStream<
      | SseClientEvent<'message', { from: string, text: string }>
      | SseClientEvent<'typing', { from: string }>
      | SseClientEvent<'topic', string>
      | SseClientEvent<'reset', SseResetData>
    >>()
    expect(stream.lastEventId).type.toBe<string>()
    for await (const item of stream) {
      if (item.event === 'message') {
        expect(item.data.text).type.toBe<string>()
        expect(item.data).type.not.toHaveProperty('severity')
      } else if (item.event === 'reset') {
        expect(item.data.reason).type.toBe<'unknown-id' | 'history-lost'>()
      } else if (item.event === 'topic') {
        expect(item.data).type.toBe<string>()
      }
      expect(item.id).type.toBe<string | undefined>()
    }
  })

  test('a wrong event name or payload access is a compile error', async () => {
    for await (const item of eventStream('/rooms/42/events', { events: roomEvents, validate: false })) {
      expect(item.event).type.toBe<'message' | 'typing' | 'topic' | 'reset'>()
      // @ts-expect-error have no overlap
      if (item.event === 'tick') break
      if (item.event === 'typing') {
        expect(item.data).type.toHaveProperty('from')
        expect(item.data).type.not.toHaveProperty('text')
        // @ts-expect-error Property 'text' does not exist
        item.data.text.trim()
      }
    }
  })

  test('Zod, Valibot and typebox 1.x schemas type the items too', async () => {
    for await (const item of eventStream('/e', { events: { tick: z.object({ n: z.number() }), note: v.string(), count: Type1.Integer() }, validate: Value1.Check })) {
      if (item.event === 'tick') expect(item.data).type.toBe<{ n: number }>()
      if (item.event === 'note') expect(item.data).type.toBe<string>()
      if (item.event === 'count') expect(item.data).type.toBe<number>()
    }
  })

  test('reset is there only when declared', async () => {
    for await (const item of eventStream('/e', { events: { reset: Type.Object({ epoch: Type.Integer() }) }, validate: false })) {
      expect(item).type.toBe<SseClientEvent<'reset', { epoch: number }>>()
    }
    for await (const { data } of eventStream('/chat', { method: 'POST', body: { prompt: 'hi' }, events: { message: Type.Object({ delta: Type.String() }) }, done: '[DONE]', validate: false })) {
      expect(data.delta).type.toBe<string>()
    }
  })

  test('without events, data is text', () => {
    expect(eventStream('/e')).type.toBe<EventStream<SseUntypedEvent>>()
    expect(eventStream('/chat', { method: 'POST', body: { prompt: 'hi' }, done: '[DONE]' })).type.toBe<EventStream<SseUntypedEvent>>()
  })

  // The message that names the fix is asserted by test/strict-types.test.ts, on a project that leaves validate out.
  test('TypeBox and JSON schemas carry no validator: validate (a checker or false) is required', () => {
    expect(eventStream).type.not.toBeCallableWith('/e', { events: roomEvents })
    expect(eventStream).type.not.toBeCallableWith('/e', { events: roomEvents, validate: true })
    expect(eventStream).type.toBeCallableWith('/e', { events: roomEvents, validate: Value.Check })
    expect(eventStream).type.toBeCallableWith('/e', { events: roomEvents, validate: false })
    expect(eventStream).type.not.toBeCallableWith('/e', { events: { count: Type1.Integer() } })
    expect(eventStream).type.toBeCallableWith('/e', { events: { count: Type1.Integer() }, validate: Value1.Check })
    expect(eventStream).type.not.toBeCallableWith('/e', { events: { note: { type: 'string' } } })
    expect(eventStream).type.toBeCallableWith('/e', { events: { note: { type: 'string' } }, validate: (_schema: object, data: unknown) => typeof data === 'string' })
    // One schema without a validator among Standard Schemas is enough.
    expect(eventStream).type.not.toBeCallableWith('/e', { events: { tick: z.number(), note: Type.String() } })
  })

  test('Standard Schemas validate themselves: validate stays optional', () => {
    expect(eventStream).type.toBeCallableWith('/e', { events: { tick: z.object({ n: z.number() }), note: v.string(), reset: hubReset } })
    expect(eventStream).type.toBeCallableWith('/e', { events: { tick: z.number() }, validate: true })
    expect(eventStream).type.toBeCallableWith('/e', { events: { tick: z.number() }, validate: false })
    expect(eventStream).type.toBeCallableWith('/e', { validate: true })
  })

  test('options are checked', () => {
    expect(eventStream).type.not.toBeCallableWith('/e', { reconnect: 'always' })
    expect(eventStream).type.toBeCallableWith('/e', { reconnect: { retries: 3, delay: 500, maxDelay: 10_000 } })
    expect(eventStream).type.not.toBeCallableWith('/e', { validate: 'yes' })
    expect(eventStream).type.toBeCallableWith('/e', { validate: (_schema: object, data: unknown) => data !== null })
    expect(eventStream).type.not.toBeCallableWith('/e', { done: 1 })
    expect(eventStream).type.toBeCallableWith('/e', { heartbeatTimeout: 60_000 })
    expect(eventStream).type.not.toBeCallableWith('/e', { heartbeatTimeout: '60s' })
    expect(eventStream).type.toBeCallableWith(new URL('http://127.0.0.1/e'), { signal: AbortSignal.timeout(1000), lastEventId: '7', credentials: 'include' })
  })
})

describe('typedEventSource', () => {
  interface FakeSource {
    addEventListener (type: string, listener: (event: { data: string, lastEventId: string }) => void): void
    removeEventListener (type: string, listener: (event: { data: string, lastEventId: string }) => void): void
    close (): void
  }
  const source = {} as FakeSource

  test('on(name, listener) types the listener\'s data; reset included; returns an unsubscribe', () => {
    const typed = typedEventSource(source, roomEvents, { validate: Value.Check })
    expect(typed.on('message', (data) => { expect(data).type.toBe<{ from: string, text: string }>() })).type.toBe<() => void>()
    typed.on('reset', (data) => { expect(data).type.toBe<SseResetData>() })
    expect(typed.on).type.not.toBeCallableWith('tick', () => {})
    expect(typedEventSource(source, { tick: Type.Object({ n: Type.Number() }) }, { validate: false }).on).type.not.toBeCallableWith('reset', () => {})
    expect(typed.source).type.toBe<FakeSource>()
  })

  test('validate is required where a schema carries no validator, as for eventStream', () => {
    expect(typedEventSource).type.not.toBeCallableWith(source, roomEvents)
    expect(typedEventSource).type.not.toBeCallableWith(source, roomEvents, { onError: () => {} })
    expect(typedEventSource).type.not.toBeCallableWith(source, roomEvents, { validate: true })
    expect(typedEventSource).type.toBeCallableWith(source, roomEvents, { validate: false })
    expect(typedEventSource).type.toBeCallableWith(source, roomEvents, { validate: Value.Check, onError: () => {} })
    expect(typedEventSource).type.toBeCallableWith(source, { note: z.object({ text: z.string() }) })
  })
})

describe('errors', () => {
  test('carry what went wrong', () => {
    expect<SseHttpError['status']>().type.toBe<number>()
    expect<SseHttpError['body']>().type.toBe<string>()
    expect<SseValidationError['event']>().type.toBe<string>()
  })
})
