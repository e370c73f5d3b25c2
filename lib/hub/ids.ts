// Event ids of the `<ms>-<seq>` form that every engine uses (Redis stream ids),
// optionally followed by `-<tag>`: a few random characters an engine adds so that
// two events that got the same position in two histories (a lost tail reissued by
// a promoted replica, a replaced dataset) never share an id. Positions order by
// `<ms>-<seq>` alone; whether two ids name the same event is string equality.

const ID = /^(0|[1-9]\d{0,15})-(0|[1-9]\d{0,19})(?:-[0-9a-z]{1,16})?$/

/** An id's position (its first two parts), or `undefined` when it is not of the engine's form. */
export function parseId (id: string): [ms: bigint, seq: bigint] | undefined {
  const match = ID.exec(id)
  if (match === null) return undefined
  const ms = BigInt(match[1] as string)
  const seq = BigInt(match[2] as string)
  // Redis ids are two unsigned 64-bit numbers.
  if (ms > 0xffffffffffffffffn || seq > 0xffffffffffffffffn) return undefined
  return [ms, seq]
}

/** Whether a string is an id of the engine's form. */
export function isId (id: string): boolean {
  return parseId(id) !== undefined
}

/** Orders two well-formed ids by position: negative when `a` comes first, 0 at the same position (even with other tags). */
export function compareIds (a: string, b: string): number {
  if (a === b) return 0
  const [aMs, aSeq] = parseId(a) as [bigint, bigint]
  const [bMs, bSeq] = parseId(b) as [bigint, bigint]
  if (aMs !== bMs) return aMs < bMs ? -1 : 1
  return aSeq < bSeq ? -1 : aSeq > bSeq ? 1 : 0
}
