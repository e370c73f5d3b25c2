// The counters of one plugin registration's streams, and the diagnostics_channel
// messages of their opening and closing. Nothing else reads or writes them: a
// stream reports its events and bytes here, and `fastify.sseStats()` copies them.

import diagnostics from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'
import type { SseEndReason, SseStats, SseStreamMessage } from '../types/index.js'

const openChannel = diagnostics.channel('fastify-typed-sse:stream:open')
const closeChannel = diagnostics.channel('fastify-typed-sse:stream:close')

export class StreamStats {
  open = 0
  opened = 0
  /** Written by the streams as they write: plain fields, no call per event. */
  events = 0
  bytes = 0
  invalidEvents = 0
  rejected = 0
  private readonly ended: Record<SseEndReason, number> = {
    finished: 0, clientGone: 0, failed: 0, invalidEvent: 0, stalled: 0, shutdown: 0
  }

  /**
   * Counts a stream that starts. Returns the request when someone listens for
   * closings, so the stream keeps it for its close message (and only then).
   */
  streamOpened (request: FastifyRequest): FastifyRequest | undefined {
    this.open++
    this.opened++
    if (openChannel.hasSubscribers) openChannel.publish({ request, reason: undefined, events: 0, bytes: 0 } satisfies SseStreamMessage)
    return closeChannel.hasSubscribers ? request : undefined
  }

  streamClosed (request: FastifyRequest | undefined, reason: SseEndReason, events: number, bytes: number): void {
    this.open--
    this.ended[reason]++
    if (request !== undefined && closeChannel.hasSubscribers) closeChannel.publish({ request, reason, events, bytes } satisfies SseStreamMessage)
  }

  /** A copy, so that callers can keep or change it. */
  snapshot (): SseStats {
    return {
      open: this.open,
      opened: this.opened,
      ended: { ...this.ended },
      events: this.events,
      bytes: this.bytes,
      invalidEvents: this.invalidEvents,
      rejected: this.rejected
    }
  }
}
