// The engine interface: where a hub keeps each topic's history and how it hears
// of new events. The hub does everything else (validation, framing, cursors,
// continuity, reset), so an engine is small: the embedded memory engine, Redis
// Streams, NATS JetStream or a Postgres table each fit it.
//
// Ids are `<ms>-<seq>` strings (Redis stream ids), optionally followed by `-<tag>`
// (lowercase letters and digits): within a topic every id's position is larger than
// every position before it, also across restarts of the engine, so an old id is
// never reused. An engine whose store can lose a tail and then reissue its positions
// (Redis after a failover) tags each event so that the reissued ids differ. Positions
// order by `<ms>-<seq>`; two ids name the same event only when the strings are equal.
// `ZERO_ID` ('0-0') is the position of a topic that has had no event yet.
//
// A body is the event's fields, already checked and framed by the hub, without
// the `id:` line and without the blank line that ends an event (for instance
// `event: message\ndata: {"text":"hi"}\n`). Engines store and return it as it is.

/** One stored event. */
export interface EngineEntry {
  readonly id: string
  readonly body: string
}

/** One live notification: the event, and the id of the event before it in its topic (`ZERO_ID` for the first). */
export interface LiveEntry extends EngineEntry {
  readonly previousId: string
}

/**
 * A page of history. `ok`: `entries` are the events after the asked id, oldest first,
 * at most the asked number (fewer, or none, at the end of the history). Otherwise the
 * asked id is no resume point, and why: `unknown-id` (not a position this topic ever
 * had: malformed, newer than anything published, or no event of this topic) or
 * `history-lost` (the topic had it; the history no longer does: trimmed, aged out,
 * or lost by the engine).
 */
export type EnginePage =
  | { readonly status: 'ok', readonly entries: readonly EngineEntry[] }
  | { readonly status: 'unknown-id' | 'history-lost' }

/** What an engine tells the hub about one topic it listens to. */
export interface EngineListener {
  /** A new event of the topic, in publish order as far as the engine knows. */
  entry (entry: LiveEntry): void
  /**
   * The live channel was interrupted (a reconnect, a dropped subscription) and may
   * have missed events: the hub reads the history from the last id it has.
   */
  resync (): void
}

export interface HubEngine {
  /**
   * Stores one event at the end of the topic's history and notifies every listener
   * of the topic, on every instance, as one step (an event is stored and announced,
   * or neither). Resolves with the new id once the event is stored. Rejects with
   * `FST_SSE_HUB_UNAVAILABLE` when the engine cannot be reached in time.
   */
  append (topic: string, body: string): Promise<string>

  /**
   * Up to `limit` events after `afterId` (exclusive), oldest first; `afterId`
   * `undefined` reads from the oldest event still held. `ZERO_ID` is a valid resume
   * point only while the history still starts at the topic's first event.
   */
  read (topic: string, afterId: string | undefined, limit: number): Promise<EnginePage>

  /** The id of the topic's newest event, or `ZERO_ID` when it has none. */
  newest (topic: string): Promise<string>

  /**
   * Starts telling `listener` of the topic's new events; the returned function stops.
   * Called once per topic per instance (the hub shares it among subscribers), so an
   * engine may keep one live subscription per topic.
   */
  listen (topic: string, listener: EngineListener): () => void

  /** Stops listening and quits whatever the engine opened itself (never a client it was handed). */
  close (): Promise<void>

  /**
   * The engine's own view of its health, synchronous and cheap (a readiness probe may
   * ask every second). Optional: an engine without it is taken as healthy.
   */
  health? (): EngineHealth
}

/** What an engine knows of its health without asking its store. */
export interface EngineHealth {
  /** The store answered its last command in time (nothing has failed since the last success). */
  readonly publish: boolean
  /** Every live subscription was confirmed (a message or a probe round trip) within the engine's liveness bound. */
  readonly live: boolean
  /** Why not, for people; empty when both are true. */
  readonly reasons: readonly string[]
}

/** The position of a topic that has had no event yet. */
export const ZERO_ID = '0-0'
