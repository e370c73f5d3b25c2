// Redis Cluster's key slots, and the partition tags of the engine's live path.
//
// A topic's keys and its live channel carry one hash tag, so that the append and
// read scripts touch one slot. The tags are not the topic itself: topics are
// folded into a fixed number of partitions, and an instance holds one sharded
// subscription per partition, not one per topic. Tags like `{0}..{63}` would land
// on slots chosen by CRC16 alone, some masters getting many and others few
// (Centrifuge found half of a cluster's shards idle that way), so each partition
// gets a tag whose slot is spread evenly over the 16,384 slots: with the usual
// even slot ranges per master, every master then carries an even share.

/** The number of hash slots of a Redis Cluster. */
export const SLOTS = 16384

const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  TABLE[i] = crc
}

/** CRC16 (XMODEM), the checksum Redis Cluster hashes keys with, of a string's UTF-8 bytes. */
function crc16 (text: string): number {
  let crc = 0
  for (const byte of Buffer.from(text, 'utf8')) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number)
  return crc
}

/** The slot of a key or channel, honouring a `{hash tag}` as Redis does. */
export function keySlot (key: string): number {
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % SLOTS
  }
  return crc16(key) % SLOTS
}

const tagsByCount = new Map<number, readonly string[]>()

/**
 * `count` short hash tags whose slots are spread evenly over the slot space (the
 * middle of each of `count` equal ranges, or the nearest slot a short tag has).
 * Computed once per count: the shortest base-36 strings cover every slot after
 * about 200,000 tries.
 */
export function partitionTags (count: number): readonly string[] {
  const known = tagsByCount.get(count)
  if (known !== undefined) return known
  const bySlot = new Array<string | undefined>(SLOTS)
  let missing = SLOTS
  for (let n = 0; missing > 0; n++) {
    const tag = n.toString(36)
    const slot = crc16(tag) % SLOTS
    if (bySlot[slot] === undefined) {
      bySlot[slot] = tag
      missing--
    }
  }
  const tags: string[] = []
  for (let i = 0; i < count; i++) tags.push(bySlot[Math.floor((i + 0.5) * SLOTS / count)] as string)
  tagsByCount.set(count, tags)
  return tags
}

/** The partition a topic's events travel on (a stable hash of its name). */
export function partitionOf (topic: string, count: number): number {
  // FNV-1a over UTF-16 units: cheap, stable across processes, spreads similar names.
  let hash = 0x811c9dc5
  for (let i = 0; i < topic.length; i++) hash = Math.imul(hash ^ topic.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % count
}
