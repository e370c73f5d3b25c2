// The reference of hub-redis-cluster: sharded PUB/SUB on a Redis Cluster through
// ioredis (shardedSubscribers), one channel per topic (SSUBSCRIBE one by one, so one
// slot per command), framed once per message and written by hand to every node:http
// response of the topic. At most once and no replay.

import Redis from 'ioredis'
import { createServer, type ServerResponse } from 'node:http'
import { serve, SSE_HEADERS, type SeqTick } from './harness.js'
import { dropLiveMessages } from './lossy.js'

const CHANNEL_PREFIX = 'bench:'

function clusterNodes (): Array<{ host: string, port: number }> {
  const url = process.env.BENCH_REDIS_URL
  if (url === undefined || !url.startsWith('cluster://')) throw new Error('BENCH_REDIS_URL must be cluster://host:port,...: this server needs a Redis Cluster')
  return url.slice('cluster://'.length).split(',').map(node => ({ host: node.split(':')[0] as string, port: Number(node.split(':')[1]) }))
}

serve(async () => {
  const publisher = new Redis.Cluster(clusterNodes(), { enableAutoPipelining: true })
  const subscriber = new Redis.Cluster(clusterNodes(), { shardedSubscribers: true })
  dropLiveMessages(subscriber as unknown as Redis, Number(process.env.BENCH_DROP_SHARE ?? 0))
  const byChannel = new Map<string, Set<ServerResponse>>()

  subscriber.on('smessage', (channel: string, message: string) => {
    const responses = byChannel.get(channel)
    if (responses === undefined) return
    const frame = 'event: tick\ndata: ' + message + '\n\n'
    for (const res of responses) res.write(frame)
  })

  const subscriptions = new Map<string, Promise<unknown>>()

  async function responsesOf (channel: string): Promise<Set<ServerResponse>> {
    let subscribed = subscriptions.get(channel)
    if (subscribed === undefined) {
      byChannel.set(channel, new Set())
      subscribed = subscriber.ssubscribe(channel)
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
      publish: (name: string, tick: SeqTick) => publisher.spublish(CHANNEL_PREFIX + name, JSON.stringify(tick))
    }
  }
})
