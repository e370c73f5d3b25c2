// Rules 2 and 3, the wire format: what each event item becomes on the wire, checked
// as pure functions of lib/wire.ts and as the exact bytes a real client receives.

import { test } from 'tap'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { EventSource } from 'eventsource'
import type { FastifyInstance } from 'fastify'
import type { SseComment, SseEvent, SseOptions } from '../index.js'
import { InvalidItem, commentLines, dataField, dataLines, eventField, frameEvent, isFieldValue, isNonNegativeInteger, retryLine } from '../lib/wire.js'
import { listen, withoutEndMarker } from './helpers/server.js'

type Item = SseEvent | SseComment

interface Received {
  bytes: Buffer
  text: string
  events: Array<Pick<EventSourceMessage, 'event' | 'id' | 'data'>>
  comments: string[]
  retries: number[]
  parseErrors: string[]
}

/** Parses a whole body with eventsource-parser, keeping what it reports as wrong too. */
function parse (text: string): Omit<Received, 'bytes' | 'text'> {
  const received: Omit<Received, 'bytes' | 'text'> = { events: [], comments: [], retries: [], parseErrors: [] }
  const parser = createParser({
    onEvent: ({ event, id, data }) => received.events.push({ event, id, data }),
    onComment: (comment) => received.comments.push(comment),
    onRetry: (retry) => received.retries.push(retry),
    onError: (error) => received.parseErrors.push(error.message)
  })
  parser.feed(text)
  return received
}

/** The body as bytes, decoded strictly (malformed UTF-8 fails the test), and parsed. */
async function receive (url: string): Promise<Received> {
  const response = await fetch(url)
  const whole = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(await response.arrayBuffer())
  // What the items became: the end marker of the finished source is not one of them (endings.test.ts).
  const { body: text, finished } = withoutEndMarker(whole)
  if (!finished) throw new Error(`the body does not end with the end marker: ${JSON.stringify(whole)}`)
  return { bytes: Buffer.from(text), text, ...parse(text) }
}

/** Serves each named list of items at /NAME. */
async function serve (cases: Record<string, Item[]>, plugin: SseOptions = { heartbeatInterval: 0 }): Promise<{ app: FastifyInstance, url: string }> {
  return await listen((app) => {
    app.get<{ Params: { name: string } }>('/:name', async (request, reply) => reply.sseStream(cases[request.params.name] ?? []))
  }, { plugin })
}

function thrownBy (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

test('lib/wire.ts', async (t) => {
  t.test('dataLines splits at CR, LF and CRLF, one data: line per line', async (t) => {
    t.equal(dataLines('plain'), 'data: plain\n')
    t.equal(dataLines(''), 'data: \n')
    t.equal(dataLines('a\rb\nc\r\nd'), 'data: a\ndata: b\ndata: c\ndata: d\n')
    t.equal(dataLines('\r\n'), 'data: \ndata: \n', 'CRLF is one line break')
    t.equal(dataLines('\n\r'), 'data: \ndata: \ndata: \n', 'LF then CR is two line breaks')
    t.equal(dataLines('a\n\nb'), 'data: a\ndata: \ndata: b\n', 'an empty line inside data is an empty data: line, not the end of the event')
    t.equal(dataLines('  indented'), 'data:   indented\n')
  })

  t.test('commentLines makes one comment line per line and never a blank line', async (t) => {
    t.equal(commentLines('hello'), ': hello\n')
    t.equal(commentLines(''), ': \n')
    t.equal(commentLines('a\nb\r\nc\rd'), ': a\n: b\n: c\n: d\n')
    t.equal(commentLines('x\n\ny'), ': x\n: \n: y\n')
  })

  t.test('eventField writes an event: line only for names other than message', async (t) => {
    t.equal(eventField(undefined), '')
    t.equal(eventField('message'), '')
    t.equal(eventField('tick'), 'event: tick\n')
    t.equal(eventField(' spaced'), 'event:  spaced\n', 'the space after the colon is added, so a leading space survives')
    t.equal(eventField('a:b 😀'), 'event: a:b 😀\n')
    for (const [label, name] of [['LF', 'a\nb'], ['CR', 'a\rb'], ['NUL', 'a\0b'], ['empty', ''], ['lone surrogate', 'a\ud800'], ['not a string', 5]] as const) {
      t.ok(thrownBy(() => eventField(name)) instanceof InvalidItem, `refuses a name: ${label}`)
    }
  })

  t.test('dataField: strings as text lines, anything else as one line of JSON', async (t) => {
    t.equal(dataField('a\r\nb'), 'data: a\ndata: b\n')
    t.equal(dataField(''), 'data: \n')
    t.equal(dataField(' x'), 'data:  x\n')
    t.equal(dataField({ text: 'a\r\nb\u2028' }), 'data: {"text":"a\\r\\nb\u2028"}\n')
    t.equal(dataField(0), 'data: 0\n')
    t.equal(dataField(false), 'data: false\n')
    t.equal(dataField(null), 'data: null\n')
    t.equal(dataField(['\ud800']), 'data: ["\\ud800"]\n', 'a lone surrogate inside JSON is escaped, so it survives')
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    for (const [label, data] of [['undefined', undefined], ['BigInt', 1n], ['cycle', cycle], ['function', () => 1], ['symbol', Symbol('s')], ['lone surrogate string', 'a\ud800b']] as const) {
      t.ok(thrownBy(() => dataField(data)) instanceof InvalidItem, `refuses data: ${label}`)
    }
  })

  t.test('frameEvent writes the event line, then id, retry, data and a blank line', async (t) => {
    t.equal(frameEvent('', undefined, undefined, 'data: x\n'), 'data: x\n\n')
    t.equal(frameEvent('event: tick\n', '7', 1000, 'data: {"n":1}\n'), 'event: tick\nid: 7\nretry: 1000\ndata: {"n":1}\n\n')
    t.equal(frameEvent('', '0', 0, 'data: \n'), 'id: 0\nretry: 0\ndata: \n\n', 'falsy values are values')
    t.equal(frameEvent('', 0, undefined, 'data: x\n'), 'id: 0\ndata: x\n\n')
    t.equal(frameEvent('', '', undefined, 'data: x\n'), 'id: \ndata: x\n\n', 'an empty id is written, to reset the last event id')
    t.equal(frameEvent('', Number.MAX_SAFE_INTEGER, undefined, 'data: x\n'), `id: ${Number.MAX_SAFE_INTEGER}\ndata: x\n\n`)
    t.equal(frameEvent(eventField(' spaced'), ' 7', undefined, dataField(' a\r\nb')), 'event:  spaced\nid:  7\ndata:  a\ndata: b\n\n')
  })

  t.test('frameEvent refuses ids and retries that would break the framing', async (t) => {
    const refused: Array<[string, unknown, unknown]> = [
      ['id with LF', '1\nevent: x', undefined],
      ['id with CR', '1\r', undefined],
      ['id with NUL', '1\0', undefined],
      ['id with a lone surrogate', '\udc00', undefined],
      ['negative id', -1, undefined],
      ['fractional id', 1.5, undefined],
      ['unsafe id', 2 ** 53, undefined],
      ['NaN id', NaN, undefined],
      ['boolean id', true, undefined],
      ['negative retry', undefined, -1],
      ['fractional retry', undefined, 0.5],
      ['string retry', undefined, '10'],
      ['infinite retry', undefined, Infinity]
    ]
    for (const [label, id, retry] of refused) {
      t.ok(thrownBy(() => frameEvent('', id, retry, 'data: x\n')) instanceof InvalidItem, label)
    }
  })

  t.test('isFieldValue, isNonNegativeInteger and retryLine', async (t) => {
    t.ok(isFieldValue(''))
    t.ok(isFieldValue('ok: event: x'))
    t.ok(isFieldValue('😀\u2028'))
    t.notOk(isFieldValue('a\n'))
    t.notOk(isFieldValue('\r'))
    t.notOk(isFieldValue('\0'))
    t.notOk(isFieldValue('\udfff'))
    t.ok(isNonNegativeInteger(0))
    t.ok(isNonNegativeInteger(3000))
    t.notOk(isNonNegativeInteger(-1))
    t.notOk(isNonNegativeInteger(1.5))
    t.notOk(isNonNegativeInteger('1'))
    t.notOk(isNonNegativeInteger(2 ** 53))
    t.equal(retryLine(0), 'retry: 0\n')
  })
})

test('event: is written only for names other than message', async (t) => {
  const { app, url } = await serve({
    names: [{ data: 'a' }, { event: 'message', data: 'b' }, { event: 'update', data: 'c' }]
  })
  t.teardown(() => app.close())
  const received = await receive(`${url}/names`)
  t.equal(received.text, 'data: a\n\ndata: b\n\nevent: update\ndata: c\n\n')
  t.same(received.events, [
    { event: undefined, id: undefined, data: 'a' },
    { event: undefined, id: undefined, data: 'b' },
    { event: 'update', id: undefined, data: 'c' }
  ])
})

test('id and retry are written when given', async (t) => {
  const { app, url } = await serve({
    fields: [{ id: '7', data: 'x' }, { retry: 2500, data: 'y' }, { event: 'e', id: 42, retry: 10, data: 'z' }, { data: 'plain' }]
  })
  t.teardown(() => app.close())
  const received = await receive(`${url}/fields`)
  t.equal(received.text, 'id: 7\ndata: x\n\nretry: 2500\ndata: y\n\nevent: e\nid: 42\nretry: 10\ndata: z\n\ndata: plain\n\n')
  t.same(received.events.map(e => e.id), ['7', undefined, '42', undefined])
  t.same(received.retries, [2500, 10])
  t.same(received.parseErrors, [])
})

test('falsy values are values', async (t) => {
  const { app, url } = await serve({
    falsy: [
      { id: '0', data: 'a' },
      { id: 0, data: 'b' },
      { retry: 0, data: 'c' },
      { data: '' },
      { data: 0 },
      { data: false },
      { data: null }
    ]
  })
  t.teardown(() => app.close())
  const received = await receive(`${url}/falsy`)
  t.equal(received.text, 'id: 0\ndata: a\n\nid: 0\ndata: b\n\nretry: 0\ndata: c\n\ndata: \n\ndata: 0\n\ndata: false\n\ndata: null\n\n')
  t.same(received.events, [
    { event: undefined, id: '0', data: 'a' },
    { event: undefined, id: '0', data: 'b' },
    { event: undefined, id: undefined, data: 'c' },
    { event: undefined, id: undefined, data: '' },
    { event: undefined, id: undefined, data: '0' },
    { event: undefined, id: undefined, data: 'false' },
    { event: undefined, id: undefined, data: 'null' }
  ])
  t.same(received.retries, [0])
})

test('id "" resets the client\'s last event id', async (t) => {
  const { app, url } = await serve({
    reset: [{ id: '5', data: 'a' }, { id: '', data: 'b' }, { data: 'c' }]
  })
  t.teardown(() => app.close())

  const received = await receive(`${url}/reset`)
  t.equal(received.text, 'id: 5\ndata: a\n\nid: \ndata: b\n\ndata: c\n\n')
  t.same(received.events.map(e => e.id), ['5', '', undefined], 'the parser sees an empty id field on the second event')

  // A spec EventSource keeps the last event id across events: '' must clear it.
  const source = new EventSource(`${url}/reset`)
  t.teardown(() => source.close())
  const lastIds = await new Promise<string[]>((resolve, reject) => {
    const seen: string[] = []
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} messages within 10 s`)), 10_000)
    source.onmessage = (message) => {
      seen.push(message.lastEventId)
      if (seen.length === 3) {
        clearTimeout(timer)
        source.close()
        resolve(seen)
      }
    }
  })
  t.same(lastIds, ['5', '', ''])
})

test('string data is split at CR, LF and CRLF and comes back with LF line breaks', async (t) => {
  const texts = ['a\rb\nc\r\nd', 'ends with LF\n', '\n', '\r\n', '\r\r', '\n\r', '\r\n\r\n', 'a\n\nb', 'line\r\n\r\nevent: spoof\n\ndata: spoof', 'data: x']
  const { app, url } = await serve({ texts: texts.map(data => ({ data })) })
  t.teardown(() => app.close())
  const received = await receive(`${url}/texts`)
  t.same(received.events.map(e => e.data), texts.map(text => text.replace(/\r\n|\r/g, '\n')))
  t.same(received.events.map(e => e.event), texts.map(() => undefined), 'no event: line was injected')
  t.same(received.parseErrors, [])
  t.ok(received.text.startsWith('data: a\ndata: b\ndata: c\ndata: d\n\n'), 'CR, LF and CRLF each start a data: line')
  t.ok(received.text.includes('data: \ndata: \n\n'), 'a lone CRLF is one line break: two empty data: lines')
})

test('non-string data is one line of JSON', async (t) => {
  const payloads = [
    { text: 'a\nb\rc\r\n', list: [1, 'x', null], nested: { deep: true } },
    ['\u2028', '\u2029', '😀', '\0'],
    42,
    { lone: '\ud800' }
  ]
  const { app, url } = await serve({ json: payloads.map(data => ({ data })) })
  t.teardown(() => app.close())
  const received = await receive(`${url}/json`)
  t.equal(received.events.length, payloads.length)
  t.strictSame(received.events.map(e => JSON.parse(e.data)), payloads)
  t.equal(received.text.split('\n').filter(line => line.startsWith('data:')).length, payloads.length, 'one data: line per event')
})

test('leading spaces survive', async (t) => {
  const { app, url } = await serve({
    spaces: [{ data: ' one' }, { data: '  two' }, { data: ' a\n  b' }, { event: ' spaced', id: ' 7', data: 'x' }]
  })
  t.teardown(() => app.close())
  const received = await receive(`${url}/spaces`)
  t.same(received.events, [
    { event: undefined, id: undefined, data: ' one' },
    { event: undefined, id: undefined, data: '  two' },
    { event: undefined, id: undefined, data: ' a\n  b' },
    { event: ' spaced', id: ' 7', data: 'x' }
  ])
})

test('comment items become comment lines and never an event', async (t) => {
  const { app, url } = await serve({
    comments: [{ comment: 'hello' }, { comment: 'a\nb\r\nc\rd' }, { comment: 'x\n\ny' }, { comment: '' }],
    between: [{ data: 'first' }, { comment: 'keep\nalive' }, { data: 'second' }]
  })
  t.teardown(() => app.close())

  const comments = await receive(`${url}/comments`)
  t.equal(comments.text, ': hello\n: a\n: b\n: c\n: d\n: x\n: \n: y\n: \n')
  t.same(comments.events, [], 'no event, not even an empty one')
  t.same(comments.comments, ['hello', 'a', 'b', 'c', 'd', 'x', '', 'y', ''])

  const between = await receive(`${url}/between`)
  t.same(between.events.map(e => e.data), ['first', 'second'])
  t.same(between.comments, ['keep', 'alive'])
})

test('the spec\'s YHOO example', async (t) => {
  const { app, url } = await serve({ yhoo: [{ data: 'YHOO\n+2\n10' }] })
  t.teardown(() => app.close())
  const received = await receive(`${url}/yhoo`)
  t.equal(received.text, 'data: YHOO\ndata: +2\ndata: 10\n\n')
  t.same(received.events, [{ event: undefined, id: undefined, data: 'YHOO\n+2\n10' }])
})

test('no CR byte and no BOM in the output, and the body ends with a blank line', async (t) => {
  const { app, url } = await serve({
    mixed: [
      { data: 'a\r\nb\rc' },
      { comment: 'x\r\ny\r' },
      { event: 'e', id: '1', data: { text: '\r\n' } },
      { data: '\r' }
    ]
  }, { heartbeatInterval: 0, retry: 3000 })
  t.teardown(() => app.close())
  const received = await receive(`${url}/mixed`)
  t.equal(received.bytes.indexOf(0x0d), -1, 'no CR byte')
  t.notOk(received.bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), 'no BOM at the start')
  t.equal(received.bytes.indexOf(Buffer.from([0xef, 0xbb, 0xbf])), -1, 'no BOM anywhere')
  t.ok(received.text.startsWith('retry: 3000\n'), 'the retry option comes first')
  t.ok(received.text.endsWith('\n\n'), 'the last event ends with a blank line')
  t.same(received.events.map(e => e.data), ['a\nb\nc', '{"text":"\\r\\n"}', '\n'])
  t.same(received.comments, ['x', 'y', ''])
  t.same(received.retries, [3000])
})
