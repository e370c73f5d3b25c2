// The reference: plain node:http, events written by hand with backpressure.

import { createServer } from 'node:http'
import { DONE, ResponseSet, frameChunk, frameDelta, frameTick, pump } from './hand-written.js'
import { countParam, serve, SSE_HEADERS } from './harness.js'
import { FLOOD_TEXT, flood, oneThenIdle, ticks, tokens, type Tick } from './sources.js'

const sameTick = (tick: Tick): Tick => tick
const sameDelta = (delta: string): string => delta
const sameValue = (value: number): number => value
const frameFlood = (value: number): string => frameChunk(value, FLOOD_TEXT)

serve(async () => {
  const fanout = new ResponseSet()
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0]
    const onError = (err: unknown): void => console.error(err)
    switch (path) {
      case '/burst':
        res.writeHead(200, SSE_HEADERS)
        pump(res, () => ticks(countParam(req.url, 1000), sameTick), frameTick).catch(onError)
        return
      case '/tokens':
        res.writeHead(200, SSE_HEADERS)
        pump(res, () => tokens(countParam(req.url, 1000), sameDelta), frameDelta, DONE).catch(onError)
        return
      case '/fanout':
        res.writeHead(200, SSE_HEADERS)
        res.flushHeaders()
        fanout.add(res)
        return
      case '/churn':
        res.writeHead(200, SSE_HEADERS)
        pump(res, signal => oneThenIdle({ value: 0, ts: 0 }, signal), frameTick).catch(onError)
        return
      case '/abort':
        res.writeHead(200, SSE_HEADERS)
        pump(res, signal => flood(sameValue, signal), frameFlood).catch(onError)
        return
      default:
        res.writeHead(404).end()
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    fanout: { size: () => fanout.size, publish: tick => fanout.publish(tick), end: () => fanout.end() }
  }
})
