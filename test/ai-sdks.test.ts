// The `failure` option with the official AI SDKs, used as a new user would: each SDK
// is pointed at a Fastify route over a real socket that streams in its protocol
// and fails mid-stream. With the protocol's failure event the SDK raises its own
// API error with the exposed message, after handing over the chunks before it.
// openai 7 needs Node 22 or later: on Node 20 its test is skipped (also under CI,
// where the Node 24 and 26 lines run it).

import { test } from 'tap'
import OpenAI from 'openai'
import Anthropic from '@anthropic-ai/sdk'
import type { SseFailure } from '../index.js'
import { listen } from './helpers/server.js'

const NODE_MAJOR = Number(process.versions.node.split('.')[0])

/** The message clients may see: the error's own only when marked safe to show. */
function shown (error: unknown): string {
  const { expose, message } = error as { expose?: unknown, message?: unknown }
  return expose === true && typeof message === 'string' ? message : 'Internal Server Error'
}

function overloaded (): Error {
  return Object.assign(new Error('The model is overloaded, try again'), { expose: true })
}

const openaiFailure: SseFailure = (error) => ({ data: { error: { message: shown(error), type: 'server_error' } } })

const anthropicFailure: SseFailure = (error) => ({ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: shown(error) } } })

test('openai: a chat completion stream that fails mid-stream raises the SDK\'s APIError with the exposed message', { skip: NODE_MAJOR < 22 ? `openai 7 needs Node 22 or later (this is Node ${process.versions.node}); the Node 24 and 26 lines run it` : false }, async (t) => {
  const { app, url } = await listen((app) => {
    app.post('/v1/chat/completions', async (_request, reply) => reply.sseStream(async function * () {
      const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'demo' }
      yield { data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] } }
      yield { data: { ...base, choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: null }] } }
      throw overloaded()
    }, { done: '[DONE]', failure: openaiFailure }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  const client = new OpenAI({ apiKey: 'test', baseURL: `${url}/v1`, maxRetries: 0 })
  const stream = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hi' }], stream: true })
  const contents: string[] = []
  let raised: unknown
  try {
    for await (const chunk of stream) contents.push(chunk.choices[0]?.delta.content ?? '')
  } catch (err) {
    raised = err
  }
  t.same(contents, ['Hel', 'lo'], 'the chunks before the failure arrive')
  t.ok(raised instanceof OpenAI.APIError, `the SDK raises its APIError (got ${String(raised)})`)
  t.match((raised as Error).message, /The model is overloaded, try again/, 'with the exposed message')
})

test('openai: an error not marked safe to show gives the generic message, never the internals', { skip: NODE_MAJOR < 22 ? `openai 7 needs Node 22 or later (this is Node ${process.versions.node}); the Node 24 and 26 lines run it` : false }, async (t) => {
  const { app, url } = await listen((app) => {
    app.post('/v1/chat/completions', async (_request, reply) => reply.sseStream(async function * () {
      yield { data: { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'demo', choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }] } }
      throw new Error('password=hunter2 at db.internal:5432')
    }, { failure: openaiFailure }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  const client = new OpenAI({ apiKey: 'test', baseURL: `${url}/v1`, maxRetries: 0 })
  const stream = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hi' }], stream: true })
  await t.rejects((async () => { for await (const chunk of stream) t.ok(chunk) })(), { message: /Internal Server Error/ })
})

test('anthropic: a message stream that fails mid-stream raises the SDK\'s APIError with the exposed message', async (t) => {
  const { app, url } = await listen((app) => {
    app.post('/v1/messages', async (_request, reply) => reply.sseStream(async function * () {
      yield { event: 'message_start', data: { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'demo', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 0 } } } }
      yield { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } }
      yield { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } } }
      throw overloaded()
    }, { failure: anthropicFailure }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  const client = new Anthropic({ apiKey: 'test', baseURL: url, maxRetries: 0 })
  const stream = await client.messages.create({ model: 'demo', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], stream: true })
  const texts: string[] = []
  let raised: unknown
  try {
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') texts.push(event.delta.text)
    }
  } catch (err) {
    raised = err
  }
  t.same(texts, ['Hello'], 'the events before the failure arrive')
  t.ok(raised instanceof Anthropic.APIError, `the SDK raises its APIError (got ${String(raised)})`)
  t.match((raised as Error).message, /The model is overloaded, try again/, 'with the exposed message')
})

test('a failure item is framed by the wire rules: one that would break the framing falls back to stream-error', async (t) => {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(async function * () {
      yield { data: 'one' }
      throw overloaded()
    }, { failure: () => ({ event: 'bad\nevent', data: 'x' }) }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())
  const body = await (await fetch(url)).text()
  t.equal(body, 'data: one\n\nevent: stream-error\ndata: {"message":"The model is overloaded, try again"}\n\n')
})

// A finished stream ends with the end marker (`event: end`, `data: [DONE]`), or with the
// `done` sentinel alone when asked for: the SDKs stop cleanly at either.
for (const done of [undefined, '[DONE]'] as const) {
  test(`openai: a finished chat completion stream ends cleanly ${done === undefined ? 'at the end marker' : 'at the done sentinel'}`, { skip: NODE_MAJOR < 22 ? `openai 7 needs Node 22 or later (this is Node ${process.versions.node}); the Node 24 and 26 lines run it` : false }, async (t) => {
    let calls = 0
    const { app, url } = await listen((app) => {
      app.post('/v1/chat/completions', async (_request, reply) => {
        calls++
        return reply.sseStream(async function * () {
          const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'demo' }
          yield { data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] } }
          yield { data: { ...base, choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] } }
        }, done === undefined ? {} : { done })
      })
    }, { plugin: { heartbeatInterval: 0 } })
    t.teardown(() => app.close())

    const client = new OpenAI({ apiKey: 'test', baseURL: `${url}/v1`, maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hi' }], stream: true })
    const contents: string[] = []
    for await (const chunk of stream) contents.push(chunk.choices[0]?.delta.content ?? '')
    t.same(contents, ['Hel', 'lo'], 'every chunk, then a clean end (no error)')
    t.equal(calls, 1)
  })
}

// @anthropic-ai/sdk 1.x parses the data of every named event but `ping` and `error` as
// JSON, so the end marker's `[DONE]` makes it throw: a route that speaks Anthropic's
// protocol turns the marker off (its own `message_stop` is its end).
for (const endMarker of [false, true]) {
  test(`anthropic: a finished message stream ${endMarker ? 'with the end marker makes the SDK throw (why such a route sets endMarker: false)' : 'with endMarker: false ends cleanly'}`, async (t) => {
    const { app, url } = await listen((app) => {
      app.post('/v1/messages', async (_request, reply) => reply.sseStream(async function * () {
        yield { event: 'message_start', data: { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'demo', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 0 } } } }
        yield { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } }
        yield { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } } }
        yield { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } }
        yield { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } } }
        yield { event: 'message_stop', data: { type: 'message_stop' } }
      }, { endMarker }))
    }, { plugin: { heartbeatInterval: 0 } })
    t.teardown(() => app.close())

    const logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} } // the SDK logs the chunk it could not parse
    const client = new Anthropic({ apiKey: 'test', baseURL: url, maxRetries: 0, logger })
    const stream = await client.messages.create({ model: 'demo', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], stream: true })
    const types: string[] = []
    let raised: unknown
    try {
      for await (const event of stream) types.push(event.type)
    } catch (err) {
      raised = err
    }
    t.same(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'], 'every event')
    if (endMarker) t.match(String(raised), /JSON/, 'then a JSON error at the marker\'s [DONE]')
    else t.equal(raised, undefined, 'then a clean end')
  })
}
