// Rule 9: lastEventId is the request's Last-Event-ID header decoded as UTF-8, or
// undefined when it is absent, too long, not UTF-8, or carries NUL, CR or LF.
// Real requests send the header as raw bytes, the way a browser sends a UTF-8 id.

import { test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { createParser } from 'eventsource-parser'
import { parseLastEventId } from '../lib/last-event-id.js'
import { listen, withoutEndMarker } from './helpers/server.js'

/** A header value whose latin1 bytes are the UTF-8 encoding of `text`, as Node sends them. */
const utf8Bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1')

/** What the route's source was given as lastEventId; null stands for undefined. */
async function lastEventIdSeen (url: string, header?: string): Promise<string | null> {
  const body = await new Promise<string>((resolve, reject) => {
    const request = http.get(url, { agent: false, headers: header === undefined ? {} : { 'last-event-id': header } }, (response) => {
      response.setEncoding('utf8')
      let text = ''
      response.on('data', (chunk: string) => { text += chunk })
      response.on('end', () => resolve(text))
      response.on('error', reject)
    })
    request.on('error', reject)
  })
  const seen: unknown[] = []
  // What the source sent: a finished stream's end marker is not part of it.
  createParser({ onEvent: (event) => seen.push(JSON.parse(event.data).lastEventId) }).feed(withoutEndMarker(body).body)
  if (seen.length !== 1) throw new Error(`expected one event, got: ${JSON.stringify(body)}`)
  return seen[0] as string | null
}

async function serve (): Promise<{ close: () => Promise<void>, url: string }> {
  const { app, url } = await listen((app) => {
    app.get('/', async (_request, reply) => reply.sseStream(({ lastEventId }) => [
      { data: { lastEventId: lastEventId === undefined ? null : lastEventId } }
    ]))
  }, { plugin: { heartbeatInterval: 0 } })
  return { close: () => app.close(), url }
}

test('parseLastEventId', async (t) => {
  t.equal(parseLastEventId(undefined), undefined, 'absent')
  t.equal(parseLastEventId(''), undefined, 'empty')
  t.equal(parseLastEventId(['1', '2']), undefined, 'not a single value')
  t.equal(parseLastEventId('42'), '42')
  t.equal(parseLastEventId('event: x'), 'event: x', 'printable ASCII as it is')
  t.equal(parseLastEventId(utf8Bytes('…')), '…', 'UTF-8 bytes read as latin1 are decoded')
  t.equal(parseLastEventId(utf8Bytes('id 😀 ✓')), 'id 😀 ✓')
  t.equal(parseLastEventId('…😀'), '…😀', 'an already decoded value is kept')
  t.equal(parseLastEventId('a'.repeat(1024)), 'a'.repeat(1024), '1024 bytes is the limit')
  t.equal(parseLastEventId('a'.repeat(1025)), undefined, 'over 1024 bytes')
  t.equal(parseLastEventId(utf8Bytes('…'.repeat(341) + 'a')), '…'.repeat(341) + 'a', '1024 UTF-8 bytes')
  t.equal(parseLastEventId(utf8Bytes('…'.repeat(341) + 'ab')), undefined, '1025 UTF-8 bytes, 343 characters')
  t.equal(parseLastEventId('…'.repeat(342)), undefined, 'an already decoded value is measured in UTF-8 bytes')
  t.equal(parseLastEventId('\xff'), undefined, 'invalid UTF-8')
  t.equal(parseLastEventId('\xc0\x80'), undefined, 'an overlong NUL')
  t.equal(parseLastEventId('\xed\xa0\x80'), undefined, 'an encoded surrogate')
  t.equal(parseLastEventId('\xe2\x80'), undefined, 'a truncated sequence')
  t.equal(parseLastEventId('\xe9t\xe9'), undefined, 'latin1 text is not UTF-8')
  t.equal(parseLastEventId('a\0b'), undefined, 'NUL')
  t.equal(parseLastEventId('a\rb'), undefined, 'CR')
  t.equal(parseLastEventId('a\nb'), undefined, 'LF')
  t.equal(parseLastEventId(utf8Bytes('…\0')), undefined, 'NUL next to UTF-8')
  t.equal(parseLastEventId(utf8Bytes('…\n')), undefined, 'LF next to UTF-8')
  t.equal(parseLastEventId('…\r'), undefined, 'CR in an already decoded value')
  t.equal(parseLastEventId('\ud800'), undefined, 'a lone surrogate in an already decoded value')
})

test('the Last-Event-ID of a real request reaches the source', async (t) => {
  const { close, url } = await serve()
  t.teardown(close)

  t.equal(await lastEventIdSeen(url), null, 'absent gives undefined')
  t.equal(await lastEventIdSeen(url, ''), null, 'empty gives undefined')
  t.equal(await lastEventIdSeen(url, '42'), '42', 'an ASCII id')
  t.equal(await lastEventIdSeen(url, 'a:b event: c'), 'a:b event: c')
  t.equal(await lastEventIdSeen(url, utf8Bytes('…')), '…', 'a UTF-8 id arrives decoded')
  t.equal(await lastEventIdSeen(url, utf8Bytes('page…🎉')), 'page…🎉', 'an astral character too')
  t.equal(await lastEventIdSeen(url, 'a'.repeat(1024)), 'a'.repeat(1024), '1024 bytes is accepted')
  t.equal(await lastEventIdSeen(url, 'a'.repeat(1025)), null, 'over 1024 bytes gives undefined')
  t.equal(await lastEventIdSeen(url, utf8Bytes('…'.repeat(341) + 'a')), '…'.repeat(341) + 'a', '1024 UTF-8 bytes is accepted')
  t.equal(await lastEventIdSeen(url, utf8Bytes('…'.repeat(342))), null, '1026 UTF-8 bytes in 342 characters gives undefined')
  t.equal(await lastEventIdSeen(url, '\xff\xfe'), null, 'invalid UTF-8 gives undefined')
  t.equal(await lastEventIdSeen(url, '\xc0\x80'), null, 'an overlong NUL gives undefined')
  t.equal(await lastEventIdSeen(url, '\xed\xa0\x80'), null, 'an encoded surrogate gives undefined')
})

test('a Last-Event-ID with NUL or a bare CR never reaches the source', async (t) => {
  const { close, url } = await serve()
  t.teardown(close)
  const { port } = new URL(url)
  // Node's client refuses to send these; a raw socket can. The server's parser may refuse them first.
  for (const [label, value] of [['NUL', 'a\0b'], ['bare CR', 'a\rb']]) {
    const response = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1')
      let text = ''
      socket.setEncoding('latin1')
      socket.on('data', (chunk: string) => { text += chunk })
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')))
      socket.end(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nLast-Event-ID: ${value}\r\n\r\n`, 'latin1')
    })
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1])
    if (status === 200) {
      t.match(response, /data: \{"lastEventId":null\}/, `${label}: the source gets undefined`)
    } else {
      t.equal(status, 400, `${label}: refused by the server's HTTP parser`)
    }
    t.notOk(response.includes('"lastEventId":"a'), `${label}: never handed to the source`)
  }
})
