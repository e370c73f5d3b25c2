// The client's parser against eventsource-parser (the reference the rest of the
// suite uses), on text with every oddity the spec allows, cut at every position;
// and what only it reports: the last event id of blocks without data.

import t from 'tap'
import { createParser } from 'eventsource-parser'
import { eventParser } from '../../lib/client/parse.js'
import { reconnectDelay, reconnectPolicy } from '../../lib/client/reconnect.js'

const ODD_STREAM = [
  ': a comment, such as the heartbeat\n',
  'data: crlf\r\ndata: lines\r\n\r\n',
  'event: tick\ndata:  two spaces\rid: 7\r\r',
  'data\n\n', // a field name without a colon: empty data
  'event: only\n\n', // no data: nothing is dispatched
  'data: {"delta":"€ and 👋"}\nid: x\u0000y\n\n', // an id with NUL is ignored
  'retry: 300\nretry: 1x\nDATA: field names are case-sensitive\ndata: last\n\n',
  'data: unterminated'
].join('')

function parseAll (chunks: string[]): { events: Array<[string, string, string | undefined]>, retries: number[] } {
  const events: Array<[string, string, string | undefined]> = []
  const retries: number[] = []
  const parser = eventParser((type, data, id) => { if (data !== undefined) events.push([type, data, id]) }, (ms) => retries.push(ms))
  for (const chunk of chunks) parser.feed(chunk)
  parser.end()
  return { events, retries }
}

t.test('the same events as eventsource-parser, however the text is split', async (t) => {
  const expected: Array<[string, string, string | undefined]> = []
  const retries: number[] = []
  createParser({ onEvent: (e) => expected.push([e.event ?? 'message', e.data, e.id]), onRetry: (ms) => retries.push(ms) }).feed(ODD_STREAM)
  t.equal(expected.length, 5)
  const splits = [[ODD_STREAM], [...ODD_STREAM]]
  for (let i = 1; i < ODD_STREAM.length; i++) splits.push([ODD_STREAM.slice(0, i), ODD_STREAM.slice(i)])
  const mismatches = splits.filter(chunks => JSON.stringify(parseAll(chunks)) !== JSON.stringify({ events: expected, retries }))
  t.same(mismatches, [], `the same ${expected.length} events and retry in all ${splits.length} ways of splitting the text`)
})

t.test('a block with an id and no data reports its id (which moves the last event id) and dispatches no data', async (t) => {
  const blocks: unknown[] = []
  const parser = eventParser((...block) => blocks.push(block), () => {})
  parser.feed('data: keeps the id it resumed from\n\nid: 41\n\nevent: x\nid\n\ndata: after a reset\n\n')
  t.same(blocks, [
    ['message', 'keeps the id it resumed from', undefined],
    ['message', undefined, '41'],
    ['x', undefined, ''],
    ['message', 'after a reset', undefined]
  ])
})

t.test('a final CR ends its line; an unfinished block is dropped', async (t) => {
  const blocks: unknown[] = []
  const parser = eventParser((...block) => blocks.push(block), () => {})
  parser.feed('data: one\r\r')
  t.same(blocks, [], 'the CR may be half of a CRLF until the stream ends')
  parser.end()
  t.same(blocks, [['message', 'one', undefined]])
  parser.feed('data: cut')
  parser.end()
  t.equal(blocks.length, 1)
})

t.test('the reconnect delay: the server\'s retry at least, doubling per failure, capped, with at most a quarter of jitter', async (t) => {
  t.equal(reconnectDelay(300, 0, 30_000, 0), 300, 'the first wait is the reconnection time')
  t.equal(reconnectDelay(300, 0, 30_000, 1), 375, 'plus up to a quarter')
  t.equal(reconnectDelay(300, 3, 30_000, 0), 2400)
  t.equal(reconnectDelay(300, 20, 30_000, 1), 30_000, 'capped')
  t.equal(reconnectDelay(60_000, 5, 30_000, 1), 60_000, 'a server retry above the cap still wins')
  t.equal(reconnectDelay(0, 0, 30_000, 1), 0, 'retry: 0 reconnects at once after a normal end')
  t.equal(reconnectDelay(0, 3, 30_000, 0), 80, 'but failures still back off')
  t.same(reconnectPolicy(undefined, 'GET'), { retries: Infinity, delay: 1000, maxDelay: 30_000 })
  t.equal(reconnectPolicy(undefined, 'POST'), undefined, 'POST does not reconnect unless asked')
  t.same(reconnectPolicy({ retries: 2 }, 'POST'), { retries: 2, delay: 1000, maxDelay: 30_000 }, 'asked with options')
  for (const bad of [{ retries: -1 }, { delay: Number.NaN }, { maxDelay: Infinity }, null, 'yes']) {
    t.throws(() => reconnectPolicy(bad as any, 'GET'), TypeError, JSON.stringify(bad))
  }
})
