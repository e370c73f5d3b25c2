// The live path: one subscriber connection per engine (a duplicate of the user's
// client, owned and quit by the engine), one SUBSCRIBE per topic that has a
// listener. A message is `<id>\n<previous id>\n<body>`; the hub checks the
// previous id against its own last one and fills any break from the history.
//
// PUB/SUB delivers nothing that was published while a subscription was not in
// place: before its SUBSCRIBE was confirmed, or while the connection was down.
// So each time a subscription is (re)confirmed, its listener gets resync(): the
// hub then reads the history from its last id and misses nothing in between.

import type { Redis } from 'ioredis'
import type { EngineListener } from '../hub/engine.js'

export class LiveChannels {
  private readonly listeners = new Map<string, EngineListener>()
  private connection: Redis | undefined

  constructor (private readonly client: Redis) {}

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

  /** Drops every listener and quits the subscriber connection. */
  async close (): Promise<void> {
    this.listeners.clear()
    const connection = this.connection
    this.connection = undefined
    if (connection === undefined) return
    connection.removeAllListeners('message')
    connection.removeAllListeners('ready')
    if (connection.status === 'ready') {
      // QUIT lets Redis close the connection cleanly; bounded, as Redis may stop answering.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        connection.quit().catch(() => {}),
        new Promise(resolve => { timer = setTimeout(resolve, 1000) })
      ])
      clearTimeout(timer)
    }
    connection.disconnect() // stops any reconnection; a no-op once QUIT has closed it
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
      if (this.listeners.size > 0) this.subscribe(connection, [...this.listeners.keys()])
    })
    connection.on('message', (channel: string, message: string) => {
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
