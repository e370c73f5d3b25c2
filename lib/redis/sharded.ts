// The live path on a Redis Cluster: sharded PUB/SUB over a fixed number of
// partitions. A topic's events are published (SPUBLISH, by the append script) on
// its partition's channel, which shares the topic's hash tag, so they stay on
// the master that holds the topic's stream. An instance holds one subscription per
// partition that has a listener, whatever the number of topics, through a
// duplicate of the user's Cluster (ioredis keeps one subscriber connection per
// master, subscribes per slot, and follows slot moves and failovers).
//
// A message is `<topic>\n<id>\n<previous id>\n<body>`; one that starts with `\n` is
// a probe. ioredis resubscribes by itself after a topology change, without saying
// when, and a slot move or a failover loses what was published meanwhile. So the
// engine does not trust a partition it has not heard from: after any sign of
// trouble (a subscriber lost or replaced, a node gone, a missed probe) a partition is
// unconfirmed, and the first message or probe that comes through it again resyncs
// every topic on it. A partition whose probe of the last round did not come back
// makes the engine replace the whole subscriber (new connections, new
// subscriptions).

import { randomUUID } from 'node:crypto'
import type { Cluster } from 'ioredis'
import type { EngineListener } from '../hub/engine.js'
import { quit } from './live.js'
import { ProbeState, type LivePath } from './probe.js'

export interface Partition {
  readonly channel: string
  readonly listeners: Map<string, EngineListener>
  readonly probe: ProbeState
  /** Heard from since the last sign of trouble: its topics are in sync. */
  confirmed: boolean
  /** SSUBSCRIBE sent on the current subscriber connection. */
  subscribed: boolean
}

/** Rounds a partition may wait for its subscription's confirmation before it counts as lost. */
const SUBSCRIBE_ROUNDS = 2

export class PartitionChannels implements LivePath {
  private subscriber: Cluster | undefined
  private readonly byChannel = new Map<string, Partition>()
  private readonly probeMessage = '\n' + randomUUID()
  /** Rounds since the subscriber was (re)started, for subscriptions still unconfirmed. */
  private roundsSinceStart = 0

  constructor (
    private readonly client: Cluster,
    private readonly commands: Cluster,
    /** The partitions' channels, by partition number. */
    private readonly channels: readonly string[],
    private readonly partitionOf: (topic: string) => number
  ) {}

  listen (topic: string, listener: EngineListener): () => void {
    const channel = this.channels[this.partitionOf(topic)] as string
    let partition = this.byChannel.get(channel)
    if (partition === undefined) {
      partition = { channel, listeners: new Map(), probe: new ProbeState(), confirmed: false, subscribed: false }
      this.byChannel.set(channel, partition)
    }
    if (partition.listeners.has(topic)) throw new Error(`already listening to ${topic}`)
    partition.listeners.set(topic, listener)
    const subscriber = this.subscriber ?? this.start()
    if (!partition.subscribed) this.subscribe(subscriber, partition)
    // A partition already confirmed carries this topic's messages from now on; the hub reads
    // its position after listen(). One not confirmed resyncs all its topics once it is.
    const owner = partition
    return () => {
      if (owner.listeners.get(topic) !== listener) return
      owner.listeners.delete(topic)
      if (owner.listeners.size > 0) return
      this.byChannel.delete(channel)
      if (owner.subscribed && this.subscriber === subscriber) subscriber.sunsubscribe(channel).catch(() => {})
    }
  }

  probeRound (): void {
    const subscriber = this.subscriber
    if (subscriber === undefined || this.byChannel.size === 0) return
    this.roundsSinceStart++
    let lost = false
    for (const partition of this.byChannel.values()) {
      const waited = !partition.confirmed && this.roundsSinceStart > SUBSCRIBE_ROUNDS
      if (partition.probe.missed() || waited) {
        partition.confirmed = false
        lost = true
      }
    }
    if (lost) {
      // A partition connected yet silent: replace the subscriber rather than trust it.
      this.restart()
      return
    }
    if (this.commands.status !== 'ready') return
    for (const partition of this.byChannel.values()) {
      if (!partition.subscribed) continue
      partition.probe.sent()
      this.commands.spublish(partition.channel, this.probeMessage).catch(() => {})
    }
  }

  unconfirmed (now: number, boundMs: number): string[] {
    const reasons: string[] = []
    let count = 0
    for (const partition of this.byChannel.values()) {
      if (!partition.confirmed || !partition.probe.confirmedWithin(now, boundMs)) count++
    }
    if (count > 0) reasons.push(`${count} of ${this.byChannel.size} partitions delivered nothing within ${boundMs} ms`)
    return reasons
  }

  async close (): Promise<void> {
    this.byChannel.clear()
    const subscriber = this.subscriber
    this.subscriber = undefined
    if (subscriber !== undefined) await quit(subscriber)
  }

  private start (): Cluster {
    const subscriber = this.client.duplicate()
    this.roundsSinceStart = 0
    subscriber.on('error', () => {}) // shows as unconfirmed partitions and failed publishes
    subscriber.on('smessage', (channel: string, message: string) => this.message(channel, message))
    // Signs that subscriptions moved or dropped: each partition must be heard from again. (Not
    // 'refresh': ioredis refreshes the slots every few seconds, mostly to find nothing changed.)
    for (const event of ['-node', '+node', '-subscriber', '+subscriber', 'subscribersReady']) {
      subscriber.on(event, () => this.unconfirmAll())
    }
    this.subscriber = subscriber
    return subscriber
  }

  private restart (): void {
    const old = this.subscriber
    if (old !== undefined) quit(old).catch(() => {})
    const subscriber = this.start()
    for (const partition of this.byChannel.values()) {
      partition.subscribed = false
      partition.confirmed = false
      partition.probe.restarted()
      this.subscribe(subscriber, partition)
    }
  }

  private unconfirmAll (): void {
    for (const partition of this.byChannel.values()) partition.confirmed = false
  }

  /** One SSUBSCRIBE per partition: one channel, so never two slots in one command. */
  private subscribe (subscriber: Cluster, partition: Partition): void {
    partition.subscribed = true
    subscriber.ssubscribe(partition.channel).then(() => {
      if (this.subscriber === subscriber && this.byChannel.get(partition.channel) === partition) this.confirm(partition)
    }, () => {
      // Not subscribed (the cluster unreachable): the probe rounds replace the subscriber.
    })
  }

  private message (channel: string, message: string): void {
    const partition = this.byChannel.get(channel)
    if (partition === undefined) return
    this.confirm(partition)
    const topicEnd = message.indexOf('\n')
    if (topicEnd < 1) return // a probe (this instance's or another's)
    const listener = partition.listeners.get(message.slice(0, topicEnd))
    if (listener === undefined) return
    const idEnd = message.indexOf('\n', topicEnd + 1)
    const previousEnd = message.indexOf('\n', idEnd + 1)
    if (idEnd < 0 || previousEnd < 0) return // not the engine's
    listener.entry({
      id: message.slice(topicEnd + 1, idEnd),
      previousId: message.slice(idEnd + 1, previousEnd),
      body: message.slice(previousEnd + 1)
    })
  }

  /** Heard from the partition: once it had been in doubt, every topic on it resyncs. */
  private confirm (partition: Partition): void {
    partition.probe.heard()
    if (partition.confirmed) return
    partition.confirmed = true
    for (const listener of partition.listeners.values()) listener.resync()
  }
}
