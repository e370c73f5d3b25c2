// Type tests (tstyche): what `reply.sseStream` accepts in a route, with and
// without the TypeBox type provider, and how the exported types behave.
// Every rejection sits next to an accepted twin, so a test cannot pass
// because the call is broken for some unrelated reason.

import { describe, expect, test } from 'tstyche'
import Fastify, { type FastifyRequest, type FastifySchema } from 'fastify'
import { Type, type TString } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import fastifyTypedSse, {
  fastifyTypedSse as namedExport,
  type SseComment,
  type SseEndReason,
  type SseFailure,
  type SseStats,
  type SseStreamMessage,
  type SsePosition,
  type SseEvent,
  type SseEventId,
  type SseEventSchemas,
  type SseInvalidEventPolicy,
  type SseItemOf,
  type SseOptions,
  type SseSource,
  type SseSourceContext,
  type SseStatic,
  type SseStreamOptions
} from '../index.js'
import * as entry from '../index.js'

const Tick = Type.Object({ value: Type.Number() })
const Alarm = Type.Object({ severity: Type.Union([Type.Literal('low'), Type.Literal('high')]) })
const events = { tick: Tick, alarm: Alarm }

const app = Fastify()

describe('plugin exports', () => {
  test('the default and the named export are the same plugin', () => {
    expect(fastifyTypedSse).type.toBe(namedExport)
    expect(entry.default).type.toBe(entry.fastifyTypedSse)
    // Callback or async is the plugin's business; its options are SseOptions.
    expect<Parameters<typeof fastifyTypedSse>[1]>().type.toBe<SseOptions>()
  })
})

describe('register options', () => {
  test('accepts no options, empty options and every documented option', () => {
    expect(app.register).type.toBeCallableWith(fastifyTypedSse)
    expect(app.register).type.toBeCallableWith(fastifyTypedSse, {})
    expect(app.register).type.toBeCallableWith(fastifyTypedSse, { heartbeatInterval: 0, retry: 3000, validate: false, onInvalidEvent: 'skip' })
    expect(app.register).type.toBeCallableWith(fastifyTypedSse, { onInvalidEvent: 'end' })
    expect(app.register).type.toBeCallableWith(fastifyTypedSse, { sendTimeout: 30_000, maxStreams: 10_000 })
  })

  test('rejects wrong option types and values', () => {
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { heartbeatInterval: '15s' })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { retry: '3000' })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { validate: 'yes' })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { onInvalidEvent: 'drop' })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { sendTimeout: '60s' })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { maxStreams: '10' })
  })

  test('rejects unknown keys, and the stream-only `done` and `failure`', () => {
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { heartbeat: 1000 })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { retry: 1000, heartbeat: 1000 })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { done: '[DONE]' })
    expect(app.register).type.not.toBeCallableWith(fastifyTypedSse, { failure: () => ({ data: 'x' }) })
  })
})

describe('fastify.sseStats()', () => {
  test('returns the counters of the registration', () => {
    expect(app.sseStats()).type.toBe<SseStats>()
    expect<SseStats['ended']>().type.toBe<Record<SseEndReason, number>>()
    expect<SseEndReason>().type.toBe<'finished' | 'clientGone' | 'failed' | 'invalidEvent' | 'stalled' | 'shutdown'>()
    expect<SseStats>().type.toBe<{ open: number, opened: number, ended: Record<SseEndReason, number>, events: number, bytes: number, invalidEvents: number, rejected: number }>()
  })

  test('the diagnostics message carries the Fastify request', () => {
    expect<SseStreamMessage>().type.toBe<{ request: FastifyRequest, reason: SseEndReason | undefined, events: number, bytes: number }>()
  })
})

describe('a route with schema.sse (no type provider)', () => {
  test('accepts declared events with matching data, from arrays, iterables, generators and functions', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }, { event: 'alarm', data: { severity: 'high' } }])
      expect(reply.sseStream).type.toBeCallableWith(new Set([{ event: 'tick' as const, data: { value: 1 } }]))
      expect(reply.sseStream).type.toBeCallableWith(function * () { yield { event: 'tick', data: { value: 1 } } })
      expect(reply.sseStream).type.toBeCallableWith(async function * () {
        yield { event: 'tick', data: { value: 1 } }
        yield { event: 'alarm', data: { severity: 'low' } }
      })
      expect(reply.sseStream).type.toBeCallableWith((async function * () { yield { event: 'tick', data: { value: 1 } } })())
      expect(reply.sseStream).type.toBeCallableWith(() => [{ event: 'alarm', data: { severity: 'low' } }])
    })
  })

  test('rejects a wrong event name', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tock', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith(async function * () { yield { event: 'tock', data: { value: 1 } } })
      expect(reply.sseStream).type.not.toBeCallableWith(() => [{ event: 'tock', data: { value: 1 } }])
    })
  })

  test('rejects a payload that does not match the name', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'alarm', data: { severity: 'high' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'alarm', data: { severity: 'medium' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: '1' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { severity: 'high' } }])
      expect(reply.sseStream).type.not.toBeCallableWith(async function * () { yield { event: 'tick', data: { value: '1' } } })
    })
  })

  test('rejects an event without data', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', id: '1' }])
    })
  })

  test('rejects an unnamed item when `message` is not declared', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'message', data: { value: 1 } }])
    })
  })

  test('types unnamed items by the `message` schema', () => {
    app.get('/messages', { schema: { sse: { message: Type.String(), tick: Tick } } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ data: 'hello' }, { event: 'message', data: 'hi' }, { event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: 1 }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'message', data: { value: 1 } }])
    })
  })

  test('accepts comment items', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ comment: 'keep-alive' }, { event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ comment: 42 }])
    })
  })

  test('rejects a comment mixed into an event (the plugin treats it as an invalid event)', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ comment: 'note' }, { event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ comment: 'note', event: 'tick', data: { value: 1 } }])
    })
  })

  test('accepts a string or number id and a number retry', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([
        { event: 'tick', data: { value: 1 }, id: '7' },
        { event: 'tick', data: { value: 2 }, id: 8, retry: 1000 }
      ])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: 1 }, id: null }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: 1 }, id: true }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: 1 }, retry: '1000' }])
    })
  })

  test('rejects sources that are not iterables or functions returning them', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith(() => [{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith(async () => [{ event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith(Promise.resolve([{ event: 'tick', data: { value: 1 } }]))
      expect(reply.sseStream).type.not.toBeCallableWith('tick')
      expect(reply.sseStream).type.not.toBeCallableWith(null)
      expect(reply.sseStream).type.not.toBeCallableWith()
    })
  })

  test('the source function gets { signal, lastEventId }', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      return reply.sseStream(async function * (context) {
        expect(context).type.toBe<SseSourceContext>()
        expect(context.signal).type.toBe<AbortSignal>()
        expect(context.lastEventId).type.toBe<string | undefined>()
        yield { event: 'tick', data: { value: Number(context.lastEventId ?? 0) } }
      })
    })
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      return reply.sseStream(({ signal, lastEventId }) => {
        expect(signal).type.toBe<AbortSignal>()
        expect(lastEventId).type.toBe<string | undefined>()
        return []
      })
    })
  })

  test('a source function cannot ask for more than the context', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith((context: SseSourceContext) => [{ event: 'tick', data: { value: context.lastEventId?.length ?? 0 } }])
      expect(reply.sseStream).type.not.toBeCallableWith((_context: SseSourceContext, extra: string) => [{ event: 'tick', data: { value: extra.length } }])
      expect(reply.sseStream).type.not.toBeCallableWith((context: { signal: AbortSignal, user: string }) => [{ event: 'tick', data: { value: context.user.length } }])
    })
  })

  test('returns the reply, so `return reply.sseStream(...)` type-checks in an async handler', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream([])).type.toBe(reply)
    })
    // A compile error in either handler fails this test; the expect-error pins the reason.
    app.get('/events', { schema: { sse: events } }, async (_request, reply) =>
      reply.sseStream([{ event: 'tick', data: { value: 1 } }]))
    app.get('/events', { schema: { sse: events } }, async (_request, reply) =>
      // @ts-expect-error Type '"tock"' is not assignable to type '"tick"
      reply.sseStream([{ event: 'tock', data: { value: 1 } }]))
  })

  test('types POST routes and `app.route` the same way', () => {
    app.post('/chat', { schema: { body: Type.Object({ prompt: Type.String() }), sse: { message: Type.String() } } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ data: 'token' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: 1 }])
    })
    app.route({
      method: 'GET',
      url: '/route',
      schema: { sse: events },
      handler: async (_request, reply) => {
        expect(reply.sseStream).type.toBeCallableWith([{ event: 'tick', data: { value: 1 } }])
        expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tock', data: { value: 1 } }])
      }
    })
  })

  test('a generator declared outside the call needs `as const` (its literals widen without context)', () => {
    async function * widened () { yield { event: 'tick', data: { value: 1 } } }
    async function * narrowed () { yield { event: 'tick', data: { value: 1 } } as const }
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.not.toBeCallableWith(widened)
      expect(reply.sseStream).type.toBeCallableWith(narrowed)
    })
  })

  test('schema.sse values must be schemas', () => {
    expect(app.get).type.toBeCallableWith('/events', { schema: { sse: { tick: Tick } } }, async () => {})
    expect(app.get).type.not.toBeCallableWith('/events', { schema: { sse: { tick: 'number' } } }, async () => {})
    expect(app.get).type.not.toBeCallableWith('/events', { schema: { sse: 42 } }, async () => {})
  })

  test('names that are not known literally still allow any name and unnamed items', () => {
    const dynamicEvents: SseEventSchemas = { message: Tick }
    app.get('/dynamic', { schema: { sse: dynamicEvents } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'anything', data: { value: 1 } }])
      expect(reply.sseStream).type.toBeCallableWith([{ data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'anything' }])
    })
  })
})

describe('a route with schema.sse and withTypeProvider<TypeBoxTypeProvider>()', () => {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>()

  test('types the request from its schema and the stream from schema.sse', () => {
    typed.get('/events', { schema: { querystring: Type.Object({ since: Type.String() }), sse: events } }, async (request, reply) => {
      expect(request.query.since).type.toBe<string>()
      expect(reply.sseStream).type.toBeCallableWith(async function * () {
        yield { event: 'tick', data: { value: 1 }, id: 1 }
        yield { event: 'alarm', data: { severity: 'high' }, id: '2', retry: 500 }
        yield { comment: 'hello' }
      })
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tock', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'alarm', data: { severity: 'medium' } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: 1 }, id: null }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'tick', data: { value: 1 }, retry: '1' }])
    })
  })

  test('rejects a comment mixed into an event', () => {
    typed.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ comment: 'note' }, { event: 'tick', data: { value: 1 } }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ comment: 'note', event: 'tick', data: { value: 1 } }])
    })
  })

  test('types unnamed items by the `message` schema', () => {
    typed.post('/chat', { schema: { body: Type.Object({ prompt: Type.String() }), sse: { message: Type.String() } } }, async (request, reply) => {
      expect(request.body.prompt).type.toBe<string>()
      expect(reply.sseStream).type.toBeCallableWith(async function * () { yield { data: 'token' } })
      expect(reply.sseStream).type.not.toBeCallableWith(async function * () { yield { data: 1 } })
    })
  })

  test('the source function gets { signal, lastEventId }, and the reply is returned', () => {
    typed.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream([])).type.toBe(reply)
      return reply.sseStream(({ signal, lastEventId }) => {
        expect(signal).type.toBe<AbortSignal>()
        expect(lastEventId).type.toBe<string | undefined>()
        return [{ event: 'tick', data: { value: 1 } }]
      })
    })
  })

  test('works inside a FastifyPluginAsyncTypebox plugin', () => {
    const routes: FastifyPluginAsyncTypebox = async (instance) => {
      instance.get('/events', { schema: { sse: events } }, async (_request, reply) => {
        expect(reply.sseStream).type.toBeCallableWith([{ event: 'alarm', data: { severity: 'low' } }])
        expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'alarm', data: { severity: 'medium' } }])
      })
    }
    expect(app.register).type.toBeCallableWith(routes)
  })

  test('a route without schema.sse accepts any data', () => {
    typed.get('/free', { schema: { querystring: Type.Object({ q: Type.String() }) } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ data: 1n }, { event: 'anything', data: { x: 1 } }, { comment: 'c' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'anything' }])
    })
  })
})

describe('a route without schema.sse', () => {
  test('accepts any event name and any data', () => {
    app.get('/free', async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([
        { data: 'text' },
        { event: 'anything', data: { nested: [1, 2] }, id: 3, retry: 10 },
        { comment: 'c' }
      ])
      expect(reply.sseStream).type.toBeCallableWith(async function * ({ lastEventId }: SseSourceContext) { yield { data: lastEventId } })
    })
    app.get('/free', { schema: { querystring: Type.Object({ q: Type.String() }) } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'anything', data: null }])
    })
  })

  test('still requires data, and well-typed id, retry and comment', () => {
    app.get('/free', async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ event: 'anything', data: undefined }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ event: 'anything' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: 1, id: null }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ data: 1, retry: '1' }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ comment: 1 }])
      expect(reply.sseStream).type.not.toBeCallableWith(['text'])
    })
  })

  test('rejects a comment mixed with data or a name', () => {
    app.get('/free', async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([{ comment: 'note' }, { data: 1 }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ comment: 'note', data: 1 }])
      expect(reply.sseStream).type.not.toBeCallableWith([{ comment: 'note', event: 'anything', data: 1 }])
    })
  })
})

describe('stream options', () => {
  test('accepts done, heartbeatInterval, retry, validate and onInvalidEvent', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([], { done: '[DONE]', heartbeatInterval: 0, retry: 3000, validate: false, onInvalidEvent: 'skip' })
      expect(reply.sseStream).type.toBeCallableWith([], { onInvalidEvent: 'end' })
      expect(reply.sseStream).type.toBeCallableWith([], {})
      expect(reply.sseStream).type.toBeCallableWith([], undefined)
      expect(reply.sseStream).type.toBeCallableWith([], { sendTimeout: 0 })
    })
  })

  test('failure: (error) => event, whose name may be error and whose data is not the route\'s', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.toBeCallableWith([], { failure: (error: unknown) => ({ event: 'error', data: { type: 'error', error: { message: String(error) } } }) })
      expect(reply.sseStream).type.toBeCallableWith([], { failure: () => ({ data: { error: { message: 'x' } } }) })
      expect(reply.sseStream).type.not.toBeCallableWith([], { failure: () => ({ event: 'error' }) })
      expect(reply.sseStream).type.not.toBeCallableWith([], { failure: 'stream-error' })
    })
  })

  test('maxStreams is a plugin option only', () => {
    app.get('/events', async (_request, reply) => {
      expect(reply.sseStream).type.not.toBeCallableWith([], { maxStreams: 1 })
    })
  })

  test('rejects wrong values and unknown keys', () => {
    app.get('/events', { schema: { sse: events } }, async (_request, reply) => {
      expect(reply.sseStream).type.not.toBeCallableWith([], { onInvalidEvent: 'drop' })
      expect(reply.sseStream).type.not.toBeCallableWith([], { done: true })
      expect(reply.sseStream).type.not.toBeCallableWith([], { heartbeatInterval: '15s' })
      expect(reply.sseStream).type.not.toBeCallableWith([], { retry: '3000' })
      expect(reply.sseStream).type.not.toBeCallableWith([], { validate: 'yes' })
      expect(reply.sseStream).type.not.toBeCallableWith([], { endMarker: 'off' })
      expect(reply.sseStream).type.not.toBeCallableWith([], { heartbeat: 1000 })
      expect(reply.sseStream).type.not.toBeCallableWith([], { retry: 1000, heartbeat: 1000 })
    })
  })
})

describe('exported types', () => {
  test('SseOptions and SseStreamOptions', () => {
    expect<SseOptions>().type.toBe<{ heartbeatInterval?: number, retry?: number, validate?: boolean, onInvalidEvent?: 'end' | 'skip', sendTimeout?: number, endMarker?: boolean, maxStreams?: number }>()
    expect<SseStreamOptions>().type.toBe<{ heartbeatInterval?: number, retry?: number, validate?: boolean, onInvalidEvent?: 'end' | 'skip', sendTimeout?: number, endMarker?: boolean, done?: string, failure?: SseFailure }>()
    expect<SseFailure>().type.toBe<(error: unknown) => SseEvent>()
    expect<SseOptions>().type.not.toHaveProperty('done')
    expect<SseOptions>().type.not.toHaveProperty('failure')
    expect<SseStreamOptions>().type.not.toHaveProperty('maxStreams')
    expect<SseInvalidEventPolicy>().type.toBe<'end' | 'skip'>()
  })

  test('SseEvent, SseEventId, SseComment and SseSourceContext', () => {
    expect<SseEventId>().type.toBe<string | number>()
    expect<SseEvent>().type.toBeAssignableFrom<{ event: 'x', data: unknown, id: 1, retry: 2 }>()
    expect<SseEvent>().type.toBeAssignableFrom<{ data: null }>()
    expect<SseEvent>().type.not.toBeAssignableFrom<{ event: 'x' }>()
    expect<SseEvent<'tick', { value: number }>>().type.toBeAssignableFrom<{ event: 'tick', data: { value: number } }>()
    expect<SseEvent<'tick', { value: number }>>().type.not.toBeAssignableFrom<{ event: 'tock', data: { value: number } }>()
    expect<SseEvent<'tick', { value: number }>>().type.not.toBeAssignableFrom<{ event: 'tick', data: { value: string } }>()
    expect<SseComment>().type.toBeAssignableFrom<{ comment: string }>()
    expect<SsePosition>().type.toBeAssignableFrom<{ id: '1-0' }>()
    expect<SsePosition>().type.not.toBeAssignableFrom<{ id: '1-0', data: 'x' }>()
    expect<SseComment>().type.not.toBeAssignableFrom<{ comment: number }>()
    expect<SseSourceContext>().type.toBe<{ signal: AbortSignal, lastEventId: string | undefined }>()
  })

  test('SseStatic reads the payload type of a TypeBox schema', () => {
    expect<SseStatic<typeof Tick>>().type.toBe<{ value: number }>()
    expect<SseStatic<typeof Alarm>>().type.toBe<{ severity: 'low' | 'high' }>()
    expect<SseStatic<TString>>().type.toBe<string>()
    expect<SseStatic<{ type: 'string' }>>().type.toBe<unknown>()
  })

  test('SseItemOf derives the items of a route schema', () => {
    type Items = SseItemOf<{ sse: { tick: typeof Tick, message: TString } }>
    expect<Items>().type.toBeAssignableFrom<{ event: 'tick', data: { value: number }, id: string }>()
    expect<Items>().type.toBeAssignableFrom<{ data: string }>()
    expect<Items>().type.toBeAssignableFrom<{ event: 'message', data: string, retry: number }>()
    expect<Items>().type.toBeAssignableFrom<{ comment: string }>()
    expect<Items>().type.not.toBeAssignableFrom<{ event: 'tock', data: { value: number } }>()
    expect<Items>().type.not.toBeAssignableFrom<{ event: 'tick', data: string }>()
    expect<Items>().type.not.toBeAssignableFrom<{ data: { value: number } }>()
    expect<SseItemOf<{ querystring: typeof Tick }>>().type.toBe<SseEvent | SseComment | SsePosition>()
    expect<SseItemOf<FastifySchema>>().type.toBe<SseEvent | SseComment | SsePosition>()
  })

  test('SseSource and SseEventSchemas', () => {
    expect<SseSource<SseComment>>().type.toBeAssignableFrom<SseComment[]>()
    expect<SseSource<SseComment>>().type.toBeAssignableFrom<AsyncGenerator<SseComment>>()
    expect<SseSource<SseComment>>().type.toBeAssignableFrom<(context: SseSourceContext) => AsyncIterable<SseComment>>()
    expect<SseSource<SseComment>>().type.not.toBeAssignableFrom<Promise<SseComment[]>>()
    expect<SseSource<SseComment>>().type.not.toBeAssignableFrom<() => Promise<SseComment[]>>()
    expect<FastifySchema['sse']>().type.toBe<SseEventSchemas | undefined>()
  })
})
