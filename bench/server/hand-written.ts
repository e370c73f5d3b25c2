// The hand-written way to stream SSE over a node:http response: frame each item,
// write it, wait for 'drain' when the socket is full, and release the source when
// the client leaves. Shared by the node:http reference and the Fastify raw contender.

import type { ServerResponse } from 'node:http'
import type { Tick } from './sources.js'

export function frameTick (tick: Tick): string {
  return 'event: tick\ndata: ' + JSON.stringify(tick) + '\n\n'
}

export function frameDelta (delta: string): string {
  return 'data: ' + JSON.stringify({ delta }) + '\n\n'
}

export function frameChunk (value: number, text: string): string {
  return 'event: chunk\ndata: ' + JSON.stringify({ value, text }) + '\n\n'
}

export const DONE = 'data: [DONE]\n\n'

/** Resolves on 'drain', or on 'close' when the client leaves while the server waits. */
export function drained (res: ServerResponse): Promise<void> {
  return new Promise(resolve => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

/**
 * Streams `source` to `res` with backpressure, then ends the response with `tail`.
 * The signal handed to the source aborts when the client leaves.
 */
export async function pump<T> (res: ServerResponse, source: (signal: AbortSignal) => AsyncIterable<T>, frame: (item: T) => string, tail = ''): Promise<void> {
  const controller = new AbortController()
  const onClose = (): void => controller.abort()
  res.on('close', onClose)
  try {
    for await (const item of source(controller.signal)) {
      if (res.destroyed) break
      if (!res.write(frame(item))) await drained(res)
      if (res.destroyed) break
    }
    if (!res.destroyed) res.end(tail)
  } finally {
    res.off('close', onClose)
  }
}

/** Fanout by hand: one framed string per broadcast, written to every open response. */
export class ResponseSet {
  private readonly responses = new Set<ServerResponse>()

  add (res: ServerResponse): void {
    this.responses.add(res)
    res.on('close', () => this.responses.delete(res))
  }

  get size (): number {
    return this.responses.size
  }

  publish (tick: Tick): void {
    const chunk = frameTick(tick)
    for (const res of this.responses) res.write(chunk)
  }

  end (): void {
    for (const res of this.responses) res.end()
    this.responses.clear()
  }
}
