// The floors of broadcasting over node:http, for the hub workloads: what writing the
// bytes costs when nothing else is done. BENCH_FLOOR=buffer frames each event once into
// one Buffer and writes it to every response; BENCH_FLOOR=coalesced joins the events
// of one tick into one Buffer and writes that once per response at the end of the tick.

import { createServer, type ServerResponse } from 'node:http'
import { frameTick } from './hand-written.js'
import { serve, SSE_HEADERS } from './harness.js'
import type { Tick } from './sources.js'

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
    if (req.url?.split('?')[0] !== '/fanout') {
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
