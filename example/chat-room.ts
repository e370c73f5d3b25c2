// The chat room of the demo: one hub topic per room. Every page subscribes to the
// room, POSTs its messages, and sees everyone's; a page that reconnects gets what
// it missed, and one that comes back after the history has moved on gets `reset`
// and refetches the room from GET /rooms/:room/messages (the app's own state).

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsync, RawServerBase } from 'fastify'
import { createHub, memoryEngine, type HubEngine } from '../lib/hub/index.js'

export interface ChatRoomOptions {
  /** The hub's engine. Default: the memory engine with `history` events per room. */
  engine?: HubEngine | undefined
  /** Events the memory engine keeps per room; small, so that a page away for a while gets `reset`. */
  history: number
  /** Runs a stream's source so that POST /drop can end it (see StreamDrops in app.ts). */
  droppable: <Item>(response: { end (): unknown }, signal: AbortSignal, body: (stop: AbortSignal) => AsyncGenerator<Item>) => AsyncGenerator<Item>
}

const RoomMessage = Type.Object({
  /** Numbered per room by the server, so a page can count what it lost or saw twice. */
  seq: Type.Integer({ minimum: 1 }),
  from: Type.String({ minLength: 1, maxLength: 40 }),
  text: Type.String({ minLength: 1, maxLength: 500 })
})
const RoomParams = Type.Object({ room: Type.String({ pattern: '^[a-z0-9-]{1,40}$' }) })
const RoomQuery = Type.Object({ after: Type.Optional(Type.String({ maxLength: 64 })) })
const PostBody = Type.Object({
  from: Type.String({ minLength: 1, maxLength: 40 }),
  text: Type.String({ minLength: 1, maxLength: 500 })
}, { additionalProperties: false })
const FloodBody = Type.Object({ count: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) }, { additionalProperties: false })

/** What the room keeps for pages that refetch: its last messages, with their hub ids. */
const KEPT_MESSAGES = 50

interface Room {
  seq: number
  messages: Array<{ id: string, seq: number, from: string, text: string }>
}

export const chatRoom: FastifyPluginAsync<ChatRoomOptions, RawServerBase> = async (instance, options) => {
  const hub = createHub({
    events: { message: RoomMessage },
    engine: options.engine ?? memoryEngine({ history: options.history })
  })
  await instance.register(hub.plugin)
  const rooms = new Map<string, Room>()
  const roomOf = (name: string): Room => {
    let room = rooms.get(name)
    if (room === undefined) rooms.set(name, room = { seq: 0, messages: [] })
    return room
  }
  const app = instance.withTypeProvider<TypeBoxTypeProvider>()

  async function post (name: string, from: string, text: string): Promise<{ id: string, seq: number }> {
    const room = roomOf(name)
    const seq = ++room.seq
    const id = await hub.publish(`room:${name}`, { data: { seq, from, text } })
    room.messages.push({ id, seq, from, text })
    if (room.messages.length > KEPT_MESSAGES) room.messages.splice(0, room.messages.length - KEPT_MESSAGES)
    return { id, seq }
  }

  // The room's stream. `after` is for a page that opens a new EventSource with the id it
  // had (a new EventSource sends no Last-Event-ID); the browser's own reconnects send the header.
  app.get('/rooms/:room/events', { schema: { params: RoomParams, querystring: RoomQuery, sse: hub.events } }, async (request, reply) => {
    const after = request.headers['last-event-id'] === undefined ? request.query.after : undefined
    const source = hub.subscribe(`room:${request.params.room}`, after === undefined ? {} : { lastEventId: after })
    return reply.sseStream(({ signal, lastEventId }) => options.droppable(reply.raw, signal, async function * (stop) {
      yield * source({ signal: stop, lastEventId })
    }))
  })

  // The room as the app knows it: what a page shows after `reset`.
  app.get('/rooms/:room/messages', { schema: { params: RoomParams } }, async (request) => {
    const room = roomOf(request.params.room)
    return { seq: room.seq, messages: room.messages }
  })

  app.post('/rooms/:room/messages', { schema: { params: RoomParams, body: PostBody } }, async (request) =>
    post(request.params.room, request.body.from, request.body.text))

  // Many messages at once: moves the room's history past a page that is away.
  app.post('/rooms/:room/flood', { schema: { params: RoomParams, body: FloodBody } }, async (request) => {
    const count = request.body.count ?? options.history + 10
    let last = { id: '', seq: 0 }
    for (let i = 1; i <= count; i++) last = await post(request.params.room, 'server', `flood ${i} of ${count}`)
    return { count, ...last }
  })
}
