// The reference of hub-redis, the cheapest design across instances: plain Redis
// PUB/SUB through ioredis, one channel per topic, framed once per message and written
// by hand to every node:http response of the topic. At most once and no replay: a
// message Redis drops (or the bench throws away) is lost for good.

import Redis from 'ioredis'
import { createServer, type ServerResponse } from 'node:http'
import { serve, SSE_HEADERS, type SeqTick } from './harness.js'
import { dropLiveMessages } from './lossy.js'

const CHANNEL_PREFIX = 'bench:'

function redisUrl (): string {
  const url = process.env.BENCH_REDIS_URL
  if (url === undefined) throw new Error('BENCH_REDIS_URL is not set: this server needs a Redis')
  return url
}

serve(async () => {
  const publisher = new Redis(redisUrl())
  const subscriber = new Redis(redisUrl())
  dropLiveMessages(subscriber, Number(process.env.BENCH_DROP_SHARE ?? 0))
  const byChannel = new Map<string, Set<ServerResponse>>()

  subscriber.on('message', (channel: string, message: string) => {
    const responses = byChannel.get(channel)
    if (responses === undefined) return
    const frame = 'event: tick\ndata: ' + message + '\n\n'
    for (const res of responses) res.write(frame)
  })

  const subscriptions = new Map<string, Promise<unknown>>()

  /** The responses of a channel, once subscribed to it; the first one subscribes (and it stays subscribed). */
  async function responsesOf (channel: string): Promise<Set<ServerResponse>> {
    let subscribed = subscriptions.get(channel)
    if (subscribed === undefined) {
      byChannel.set(channel, new Set())
      subscribed = subscriber.subscribe(channel)
      subscriptions.set(channel, subscribed)
    }
    await subscribed
    return byChannel.get(channel) as Set<ServerResponse>
  }

  const server = createServer((req, res) => {
    const match = /^\/topics\/([\w-]{1,64})$/.exec(req.url ?? '')
    if (match === null) {
      res.writeHead(404).end()
      return
    }
    responsesOf(CHANNEL_PREFIX + (match[1] as string)).then(responses => {
      // Headers only once subscribed: a client that has them gets every later message Redis delivers.
      res.writeHead(200, SSE_HEADERS)
      res.flushHeaders()
      responses.add(res)
      res.on('close', () => responses.delete(res))
    }, (err: Error) => {
      console.error(err)
      res.writeHead(503).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    topics: {
      publish: (name: string, tick: SeqTick) => publisher.publish(CHANNEL_PREFIX + name, JSON.stringify(tick))
    }
  }
})
