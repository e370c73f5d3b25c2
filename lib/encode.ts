// An item to the bytes of one event: the one place that checks an item against
// its route's schemas and frames it. A stream calls it per item it pulls; the
// hub calls it once per publish and hands the result to every subscriber as
// already-framed bytes.

import type { EventValidators } from './schemas.js'
import { InvalidItem, commentLines, dataField, eventField, frameEvent, positionLine } from './wire.js'

/**
 * Bytes already checked and framed by the plugin (the hub's events): a stream writes
 * `text` as it is, with no validation and no serialization. Only the plugin's own
 * code makes these; user items are always checked.
 */
export class FramedEvent {
  /** The whole event, ending in its blank line. */
  readonly text: string
  /** The event's id (a stream does not need it; it is already in `text`). */
  readonly id: string

  constructor (text: string, id: string) {
    this.text = text
    this.id = id
  }
}

const NOT_AN_ITEM = 'an item must be an event { event?, data, id?, retry? }, a comment { comment } or a position { id }'

/**
 * The bytes of one item. `validators` are the route's declared events, or `undefined`
 * when the route declares none or validation is off (names and payloads are then not
 * checked, but the framing rules still hold). Throws InvalidItem, having written nothing.
 */
export function encodeItem (item: unknown, validators: EventValidators | undefined): string {
  if (item instanceof FramedEvent) return item.text
  if (typeof item !== 'object' || item === null) throw new InvalidItem(NOT_AN_ITEM)
  const { event, data, id, retry, comment } = item as Record<string, unknown>
  if (comment !== undefined) {
    if (typeof comment !== 'string' || event !== undefined || data !== undefined || id !== undefined || retry !== undefined) {
      throw new InvalidItem('a comment item is { comment: string } and nothing else')
    }
    if (!comment.isWellFormed()) throw new InvalidItem('comment contains a lone surrogate, which UTF-8 cannot carry')
    return commentLines(comment)
  }
  // A position: moves the client's last event id, dispatches nothing, has no schema.
  if (data === undefined && event === undefined && retry === undefined && id !== undefined) return positionLine(id)
  return frameEvent(eventLineOf(event, data, validators), id, retry, dataField(data))
}

/** The `event:` line of a checked event: the declared name's cached line, after its payload passed. */
function eventLineOf (event: unknown, data: unknown, validators: EventValidators | undefined): string {
  if (validators === undefined) return eventField(event)
  const name = event ?? 'message'
  const declared = typeof name === 'string' ? validators.get(name) : undefined
  if (declared === undefined) {
    throw new InvalidItem(`unknown event ${JSON.stringify(name)}; the route declares ${[...validators.keys()].map(n => JSON.stringify(n)).join(', ')}`)
  }
  if (!declared.check(data)) throw new InvalidItem('data does not match the event\'s schema', declared.errors(data))
  return declared.eventLine
}
