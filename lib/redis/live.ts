// The live path on one Redis (standalone or Sentinel): one subscriber connection
// per engine (a duplicate of the user's client, owned and quit by the engine), one
// SUBSCRIBE per topic that has a listener. A message is `<id>\n<previous id>\n<body>`;
// the hub checks the previous id against its own last one and fills any break from
// the history.
//
// PUB/SUB delivers nothing that was published while a subscription was not in
// place: before its SUBSCRIBE was confirmed, or while the connection was down.
// So each time a subscription is (re)confirmed, its listener gets resync(): the
// hub then reads the history from its last id and misses nothing in between.
//
// A connection can also stay "connected" and deliver nothing (Redis blackholed: no
// RST, no FIN; a failover that left it on a node nobody publishes to). So the
// engine probes it: each round publishes a token on a channel only this connection
// listens to; a connection that got neither its last probe nor any message by the
// next round is restarted, and its resubscriptions resync every topic.

import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { EngineListener } from '../hub/engine.js'
import { ProbeState, type LivePath } from './probe.js'

export class TopicChannels implements LivePath {
  private readonly listeners = new Map<string, EngineListener>()
  private connection: Redis | undefined
  /** Topics can hold no control character: this channel is nobody's topic. */
  private readonly probeChannel: string
  private readonly probe = new ProbeState()

  constructor (private readonly client: Redis, private readonly commands: Redis, prefix: string) {
    this.probeChannel = `${prefix}\u0000probe:${randomUUID()}`
  }

  /** Starts delivering the channel's messages to `listener`; the returned function stops. */
  listen (channel: string, listener: EngineListener): () => void {
    if (this.listeners.has(channel)) throw new Error(`already listening to ${channel}`)
    this.listeners.set(channel, listener)
    const connection = this.connection ?? this.connect()
    if (connection.status === 'ready') this.subscribe(connection, [channel])
    // else: the 'ready' handler subscribes every channel
    return () => {
      if (this.listeners.get(channel) !== listener) return
      this.listeners.delete(channel)
      if (connection.status === 'ready') connection.unsubscribe(channel).catch(() => {})
    }
  }

  probeRound (): void {
    const connection = this.connection
    if (connection === undefined || this.listeners.size === 0) return
    if (connection.status !== 'ready') return // ioredis is reconnecting it; its 'ready' resubscribes and resyncs
    if (this.probe.missed()) {
      // Connected, yet silent for a whole round: not to be trusted. A new socket, then every topic resyncs.
      this.probe.restarted()
      connection.disconnect(true)
      return
    }
    this.probe.sent()
    if (this.commands.status === 'ready') this.commands.publish(this.probeChannel, '1').catch(() => {})
  }

  unconfirmed (now: number, boundMs: number): string[] {
    if (this.connection === undefined || this.listeners.size === 0) return []
    if (this.connection.status !== 'ready') return [`the subscriber connection is ${this.connection.status}`]
    return this.probe.confirmedWithin(now, boundMs) ? [] : [`the subscriber connection delivered nothing within ${boundMs} ms`]
  }

  /** Drops every listener and quits the subscriber connection. */
  async close (): Promise<void> {
    this.listeners.clear()
    const connection = this.connection
    this.connection = undefined
    if (connection !== undefined) await quit(connection)
  }

  private connect (): Redis {
    const connection = this.client.duplicate({
      // The engine resubscribes by itself on 'ready', so that it knows when to resync.
      autoResubscribe: false,
      // Never queue SUBSCRIBE for later: the 'ready' handler sends every channel.
      enableOfflineQueue: false,
      lazyConnect: false
    })
    // Connection errors show as missed messages (resync) and failed publishes; not as crashes.
    connection.on('error', () => {})
    connection.on('ready', () => {
      this.probe.reset()
      this.subscribe(connection, [this.probeChannel, ...this.listeners.keys()])
    })
    connection.on('message', (channel: string, message: string) => {
      this.probe.heard()
      const listener = this.listeners.get(channel)
      if (listener === undefined) return
      const idEnd = message.indexOf('\n')
      const previousEnd = message.indexOf('\n', idEnd + 1)
      if (idEnd < 1 || previousEnd < 0) return // not the engine's: someone else publishes on this channel
      listener.entry({
        id: message.slice(0, idEnd),
        previousId: message.slice(idEnd + 1, previousEnd),
        body: message.slice(previousEnd + 1)
      })
    })
    this.connection = connection
    return connection
  }

  private subscribe (connection: Redis, channels: string[]): void {
    const listeners = channels.map(channel => this.listeners.get(channel))
    connection.subscribe(...channels).then(() => {
      this.probe.heard()
      for (let i = 0; i < channels.length; i++) {
        const listener = listeners[i]
        // Still the same listener: it may have stopped (or been replaced) meanwhile.
        if (listener !== undefined && this.listeners.get(channels[i] as string) === listener) listener.resync()
      }
    }, () => {
      // The connection dropped before Redis confirmed: its next 'ready' subscribes again.
    })
  }
}

/** QUIT lets Redis close the connection cleanly; bounded, as Redis may stop answering. */
export async function quit (connection: Redis | import('ioredis').Cluster): Promise<void> {
  connection.removeAllListeners('message')
  connection.removeAllListeners('smessage')
  connection.removeAllListeners('ready')
  if (connection.status === 'ready') {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      connection.quit().catch(() => {}),
      new Promise(resolve => { timer = setTimeout(resolve, 1000) })
    ])
    clearTimeout(timer)
  }
  connection.disconnect() // stops any reconnection; a no-op once QUIT has closed it
}
