// Rule 3, fuzzed: thousands of random names, ids, payloads and comments full of line
// breaks, NULs, lone surrogates and field-like fragments. What the client parses must
// be exactly the valid events sent: no spoofed event, no extra id, no lost byte.
// The seed is printed; rerun a failure with SSE_FUZZ_SEED=<seed>.

import { test } from 'tap'
import { createParser } from 'eventsource-parser'
import type { SseComment, SseEvent } from '../index.js'
import { listen, withoutEndMarker } from './helpers/server.js'

type Item = SseEvent | SseComment
/** Any item's fields, to read them without narrowing. */
interface LooseItem { event?: string, data?: unknown, id?: string | number, retry?: number, comment?: string }

const SEED = process.env.SSE_FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(process.env.SSE_FUZZ_SEED)
const STREAMS_PER_KIND = 3
const ITEMS_PER_STREAM = 2500

/** mulberry32: small, seedable, good enough to pick fragments. */
function prng (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }
}

const FRAGMENTS = [
  'a', 'Z', '0', ' ', '  ', '\t', ':', ': ', 'é', '\u0085', '\ufeff',
  '\r', '\n', '\r\n', '\n\r', '\r\r', '\n\n', '\r\n\r\n', '\0',
  '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d', '\ude00',
  '\u2028', '\u2029', '😀', '𝄞',
  'event: x', 'event:x', 'data: y', 'data:', 'id: 9', 'id:', 'retry: 5', 'retry:x',
  '\n\nevent: spoof\ndata: spoof\n\n', '\r\nid: spoofed\r\n'
]

/** The fragments a field may carry: still full of ':' and field-like text, but no CR, LF, NUL or lone surrogate. */
const FIELD_SAFE = FRAGMENTS.filter(fragment => !/[\r\n\0]/.test(fragment) && fragment.isWellFormed())

class Fuzzer {
  private readonly random: () => number
  constructor (seed: number) {
    this.random = prng(seed)
  }

  int (below: number): number {
    return Math.floor(this.random() * below)
  }

  chance (probability: number): boolean {
    return this.random() < probability
  }

  pick<T> (choices: readonly T[]): T {
    return choices[this.int(choices.length)] as T
  }

  string (maxFragments = 12, fragments = FRAGMENTS): string {
    let out = ''
    for (let n = this.int(maxFragments + 1); n > 0; n--) out += this.pick(fragments)
    return out
  }

  /** Half the time a value that should pass, so valid events are many too. */
  field (): string {
    return this.string(4, this.chance(0.5) ? FIELD_SAFE : FRAGMENTS)
  }

  name (): unknown {
    if (this.chance(0.3)) return undefined
    if (this.chance(0.1)) return 'message'
    if (this.chance(0.05)) return ''
    return this.field()
  }

  id (): unknown {
    if (this.chance(0.4)) return undefined
    if (this.chance(0.25)) return this.pick([0, 1, 42, Number.MAX_SAFE_INTEGER, -1, 1.5, 2 ** 53, NaN, Infinity])
    return this.field()
  }

  retry (): unknown {
    if (this.chance(0.85)) return undefined
    return this.pick([0, 1, 3000, -1, 0.5, NaN, '5'])
  }

  json (depth = 0): unknown {
    const kind = this.int(depth > 2 ? 3 : 5)
    if (kind === 0) return this.string()
    if (kind === 1) return this.pick([0, -1.5, 1e21, true, false, null])
    if (kind === 2) return this.string(2)
    if (kind === 3) return Array.from({ length: this.int(4) }, () => this.json(depth + 1))
    const object: Record<string, unknown> = {}
    for (let n = this.int(4); n > 0; n--) object[this.string(3)] = this.json(depth + 1)
    return object
  }

  /** A JSON payload: never a bare string, which would be written as text. */
  payload (): unknown {
    return this.chance(0.5) ? { value: this.json() } : [this.json(), this.string()]
  }
}

// The model of rule 3, written from the contract rather than from lib/.
const FORBIDDEN_IN_FIELD = /[\r\n\0]/
const fieldOk = (value: string): boolean => !FORBIDDEN_IN_FIELD.test(value) && value.isWellFormed()
const nameOk = (name: unknown): boolean => name === undefined || (typeof name === 'string' && name !== '' && fieldOk(name))
const idOk = (id: unknown): boolean => id === undefined || (typeof id === 'string' ? fieldOk(id) : Number.isSafeInteger(id) && (id as number) >= 0)
const retryOk = (retry: unknown): boolean => retry === undefined || (Number.isSafeInteger(retry) && (retry as number) >= 0)
const lineBreaksAsLf = (text: string): string => text.replace(/\r\n|\r/g, '\n')

interface Expected {
  events: Array<{ event: string | undefined, id: string | undefined, data: unknown }>
  comments: string[]
  retries: number[]
  /** How many items of each kind of trouble the stream carried, to prove the fuzz reached them. */
  rejected: Record<'name' | 'id' | 'retry' | 'data', number>
}

function expectationOf (items: LooseItem[], dataAsJson: boolean): Expected {
  const expected: Expected = { events: [], comments: [], retries: [], rejected: { name: 0, id: 0, retry: 0, data: 0 } }
  for (const item of items) {
    if (item.comment !== undefined) {
      expected.comments.push(...item.comment.split(/\r\n|\r|\n/))
      continue
    }
    const { event, id, retry, data } = item
    const problems = {
      name: !nameOk(event),
      id: !idOk(id),
      retry: !retryOk(retry),
      data: typeof data === 'string' && !data.isWellFormed()
    }
    for (const [kind, bad] of Object.entries(problems)) if (bad) expected.rejected[kind as keyof Expected['rejected']]++
    if (Object.values(problems).some(Boolean)) continue
    if (retry !== undefined) expected.retries.push(retry)
    expected.events.push({
      event: event === 'message' ? undefined : event,
      id: id === undefined ? undefined : String(id),
      data: dataAsJson ? data : lineBreaksAsLf(data as string)
    })
  }
  return expected
}

function generate (fuzzer: Fuzzer, dataAsJson: boolean): Item[] {
  return Array.from({ length: ITEMS_PER_STREAM }, (): Item => {
    if (fuzzer.chance(0.05)) return { comment: fuzzer.string().toWellFormed() }
    const item: Record<string, unknown> = { data: dataAsJson ? fuzzer.payload() : fuzzer.string() }
    const name = fuzzer.name()
    const id = fuzzer.id()
    const retry = fuzzer.retry()
    if (name !== undefined) item.event = name
    if (id !== undefined) item.id = id
    if (retry !== undefined) item.retry = retry
    return item as unknown as Item
  })
}

function jsonOrMarker (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return { notJson: text }
  }
}

test(`random names, ids, payloads and comments never break the framing (seed ${SEED})`, async (t) => {
  t.comment(`fuzz seed ${SEED}: rerun with SSE_FUZZ_SEED=${SEED}`)
  const fuzzer = new Fuzzer(SEED)
  const streams = new Map<string, Item[]>()
  const { app, url } = await listen((app) => {
    app.get<{ Params: { stream: string } }>('/:stream', async (request, reply) =>
      reply.sseStream(streams.get(request.params.stream) ?? [], { onInvalidEvent: 'skip' }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  const totals = { events: 0, name: 0, id: 0, retry: 0, data: 0 }
  for (let round = 0; round < STREAMS_PER_KIND; round++) {
    for (const dataAsJson of [true, false]) {
      const label = `${dataAsJson ? 'JSON' : 'string'} data, round ${round}, seed ${SEED}`
      const items = generate(fuzzer, dataAsJson)
      const key = `${round}-${dataAsJson ? 'json' : 'text'}`
      streams.set(key, items)
      const expected = expectationOf(items as LooseItem[], dataAsJson)

      const whole = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(await (await fetch(`${url}/${key}`)).arrayBuffer())
      // The source finishes (invalid items are skipped): the end marker, then what the items became.
      const { body: text, finished } = withoutEndMarker(whole)
      t.ok(finished, `the stream ends with the end marker (${label})`)
      const bytes = Buffer.from(text)
      const events: Expected['events'] = []
      const comments: string[] = []
      const retries: number[] = []
      const parseErrors: string[] = []
      const parser = createParser({
        onEvent: ({ event, id, data }) => events.push({ event, id, data: dataAsJson ? jsonOrMarker(data) : data }),
        onComment: (comment) => comments.push(comment),
        onRetry: (retry) => retries.push(retry),
        onError: (error) => parseErrors.push(error.message)
      })
      parser.feed(text)

      t.equal(bytes.indexOf(0x0d), -1, `no CR byte on the wire (${label})`)
      t.same(parseErrors, [], `no line the parser could not place (${label})`)
      t.equal(events.length, expected.events.length, `exactly the valid events arrive (${label})`)
      t.strictSame(events, expected.events, `each event arrives as sent (${label})`)
      t.strictSame(comments, expected.comments, `comments arrive line by line (${label})`)
      t.strictSame(retries, expected.retries, `retry fields arrive as sent (${label})`)
      t.ok(text === '' || text.endsWith('\n'), `the body ends at a line end (${label})`)

      totals.events += expected.events.length
      for (const kind of ['name', 'id', 'retry', 'data'] as const) totals[kind] += expected.rejected[kind]
      streams.delete(key)
    }
  }

  // The fuzz is only worth something if it produced both good events and every kind of bad one.
  t.ok(totals.events > 1000, `${totals.events} valid events were checked`)
  t.ok(totals.name > 100, `${totals.name} invalid names were rejected`)
  t.ok(totals.id > 100, `${totals.id} invalid ids were rejected`)
  t.ok(totals.retry > 50, `${totals.retry} invalid retries were rejected`)
  t.ok(totals.data > 100, `${totals.data} strings with lone surrogates were rejected`)
})

test('hand-picked spoofing attempts are refused or carried as plain data', async (t) => {
  const items: Item[] = [
    { event: 'x\n\ndata: spoofed', data: 'lost' },
    { event: 'x\rid: 1', data: 'lost' },
    { id: '1\n\nevent: spoofed\ndata: spoofed', data: 'lost' },
    { id: '1\0', data: 'lost' },
    { id: '\ud800', data: 'lost' },
    { retry: -1, data: 'lost' },
    { data: 'lone \udfff surrogate' },
    { data: 'kept\n\nevent: spoofed\ndata: spoofed\n\n' },
    { data: 'kept\rid: 7\r\r' },
    { data: { text: '\n\nevent: spoofed\n\n' } },
    { comment: 'kept\n\nevent: spoofed\ndata: spoofed\n\n' },
    { event: 'last', id: 'end', data: 'kept' }
  ]
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(items, { onInvalidEvent: 'skip' }))
  }, { plugin: { heartbeatInterval: 0 } })
  t.teardown(() => app.close())

  const text = await (await fetch(url)).text()
  const events: Array<{ event?: string, id?: string, data: string }> = []
  const comments: string[] = []
  createParser({ onEvent: ({ event, id, data }) => events.push({ event, id, data }), onComment: (c) => comments.push(c) }).feed(text)
  t.strictSame(events, [
    { event: undefined, id: undefined, data: 'kept\n\nevent: spoofed\ndata: spoofed\n\n' },
    { event: undefined, id: undefined, data: 'kept\nid: 7\n\n' },
    { event: undefined, id: undefined, data: '{"text":"\\n\\nevent: spoofed\\n\\n"}' },
    { event: 'last', id: 'end', data: 'kept' },
    { event: 'end', id: undefined, data: '[DONE]' }
  ], 'the kept events, then the end marker')
  t.strictSame(comments, ['kept', '', 'event: spoofed', 'data: spoofed', '', ''])
  t.notOk(text.includes('lost'), 'nothing of a refused event was written')
})
