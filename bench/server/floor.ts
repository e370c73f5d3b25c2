// The floors over node:http: what writing the bytes costs when nothing else is done.
// Broadcast (the hub workloads): BENCH_FLOOR=buffer frames each event once into one
// Buffer and writes it to every response; BENCH_FLOOR=coalesced joins the events of one
// tick into one Buffer and writes that once per response at the end of the tick.
// burst and tokens (coalesced only): the same generators as every contender, framed by
// hand with no validation, the events of one tick joined into one write.

import { createServer, type ServerResponse } from 'node:http'
import { DONE, drained, frameDelta, frameTick } from './hand-written.js'
import { countParam, serve, SSE_HEADERS } from './harness.js'
import { ticks, tokens, type Tick } from './sources.js'

/** Joined writes of up to this many characters, as the plugin coalesces. */
const COALESCE_LIMIT = 16 * 1024

/** Streams `source`, joining what it yields within one tick into one write; waits for 'drain'. */
async function coalescedPump<T> (res: ServerResponse, source: AsyncIterable<T>, frame: (item: T) => string, tail = ''): Promise<void> {
  let pending = ''
  let queued = false
  let full = false
  const flush = (): void => {
    queued = false
    if (pending === '' || res.destroyed) return
    if (!res.write(pending)) full = true
    pending = ''
  }
  for await (const item of source) {
    if (res.destroyed) return
    pending += frame(item)
    if (pending.length >= COALESCE_LIMIT) flush()
    else if (!queued) {
      queued = true
      process.nextTick(flush)
    }
    if (full) {
      full = false
      await drained(res)
    }
  }
  res.end(pending + tail)
  pending = ''
}

const sameTick = (tick: Tick): Tick => tick
const sameDelta = (delta: string): string => delta

const coalesced = process.env.BENCH_FLOOR === 'coalesced'

class Floor {
  readonly responses = new Set<ServerResponse>()
  private batch = ''
  private queued = false

  publish (tick: Tick): void {
    if (!coalesced) {
      const chunk = Buffer.from(frameTick(tick))
      for (const res of this.responses) res.write(chunk)
      return
    }
    this.batch += frameTick(tick)
    if (!this.queued) {
      this.queued = true
      process.nextTick(flush, this)
    }
  }

  flush (): void {
    this.queued = false
    const chunk = Buffer.from(this.batch)
    this.batch = ''
    for (const res of this.responses) res.write(chunk)
  }

  end (): void {
    if (this.queued) this.flush()
    for (const res of this.responses) res.end()
    this.responses.clear()
  }
}

function flush (floor: Floor): void {
  floor.flush()
}

function forget (this: ServerResponse): void {
  floor.responses.delete(this)
}

const floor = new Floor()

serve(async () => {
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0]
    if (coalesced && (path === '/burst' || path === '/tokens')) {
      res.writeHead(200, SSE_HEADERS)
      const count = countParam(req.url, 1000)
      const pumped = path === '/burst'
        ? coalescedPump(res, ticks(count, sameTick), frameTick)
        : coalescedPump(res, tokens(count, sameDelta), frameDelta, DONE)
      pumped.catch((err: unknown) => console.error(err))
      return
    }
    if (path !== '/fanout') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, SSE_HEADERS)
    res.flushHeaders()
    floor.responses.add(res)
    res.on('close', forget)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    fanout: { size: () => floor.responses.size, publish: tick => floor.publish(tick), end: () => floor.end() }
  }
})
