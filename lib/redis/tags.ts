// The tag of each appended event: eight random base-36 characters (40 bits), so that
// an event that gets the stream id of a lost one (a promoted replica whose clock is
// behind reissues the ids of the tail it lost; a restored or foreign dataset) never
// gets its hub id too. Drawn from a pool of random bytes: one crypto call per 819
// publishes, not one per publish.

import { randomFillSync } from 'node:crypto'

const TAG_BYTES = 5
const pool = Buffer.alloc(TAG_BYTES * 819)
let offset = pool.length

/** A new event's tag. Never `b`, the field name of entries written before tags. */
export function newTag (): string {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const value = pool.readUIntBE(offset, TAG_BYTES)
  offset += TAG_BYTES
  return value.toString(36).padStart(8, '0')
}

/** The hub's id of a stream entry: its stream id, and its tag unless it has none (`b`). */
export function hubId (streamId: string, field: string | undefined): string {
  return field === undefined || field === 'b' ? streamId : streamId + '-' + field
}

/** A hub id's stream id and tag ('' when it has none). */
export function splitHubId (id: string): [streamId: string, tag: string] {
  const second = id.indexOf('-', id.indexOf('-') + 1)
  return second < 0 ? [id, ''] : [id.slice(0, second), id.slice(second + 1)]
}
