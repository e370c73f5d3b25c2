// The demo on Redis: `REDIS_URL=... npm start` (two of them share one chat room), and
// `npm run demo:cluster` (redis-server, two instances, nginx), which stops
// everything it started on Ctrl+C.

import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { EventStreamReader, waitFor } from '../helpers/events.js'
import { requireProgram } from '../helpers/programs.js'
import { requireRedisServer, startRedis } from '../helpers/redis-server.js'
import { post } from './helpers.js'

const EXAMPLE = join(__dirname, '..', '..', 'example')

/** Runs an example script; resolves with its output lines so far and a function that stops it with `signal`. */
function run (t: Test, script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(EXAMPLE, script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  createInterface({ input: child.stdout }).on('line', line => lines.push(line))
  createInterface({ input: child.stderr }).on('line', line => lines.push(line))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<[number | null, NodeJS.Signals | null]> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    const result = await exited
    clearTimeout(timer)
    return result
  }
  t.teardown(() => stop())
  const line = (pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> =>
    waitFor(`a line matching ${pattern} (output: ${lines.join(' | ')})`, () => {
      for (const text of lines) {
        const match = pattern.exec(text)
        if (match !== null) return match
      }
      return undefined
    }, timeoutMs, 50)
  return { lines, line, stop }
}

function accepts (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

async function freePort (): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** Reads the demo's chat room at `url` until a message with `text` comes. */
async function messageIn (url: string, room: string, text: string, publish: () => Promise<unknown>): Promise<unknown> {
  // The response's head leaves with the position item: once it is here, the subscription is.
  const reader = new EventStreamReader(await fetch(`${url}/rooms/${room}/events`))
  try {
    await publish()
    const events = await reader.readUntil(events => events.some(e => e.data.includes(text)), 15_000)
    return JSON.parse(events.find(e => e.data.includes(text))!.data)
  } finally {
    await reader.cancel()
  }
}

const redisPath = requireRedisServer(t)

if (redisPath !== undefined) {
  t.test('REDIS_URL: two demo instances share one chat room through Redis', async (t) => {
    const redis = await startRedis(t, redisPath)
    const [a, b] = [run(t, 'server.ts', { PORT: '0', REDIS_URL: redis.url }), run(t, 'server.ts', { PORT: '0', REDIS_URL: redis.url })]
    const [urlA, urlB] = await Promise.all([a, b].map(async demo => (await demo.line(/open (http:\/\/\S+) in a browser.*chat room on redis/))[1]!))
    const message = await messageIn(urlB!, 'lobby', 'hello from A', () => post(`${urlA}/rooms/lobby/messages`, { from: 'ann', text: 'hello from A' }))
    t.match(message, { from: 'ann', text: 'hello from A' }, 'posted on A, streamed by B')
    const [code] = await a.stop()
    t.equal(code, 0, 'the demo closes cleanly, its Redis connections included')
  })
}

const nginxPath = requireProgram(t, 'nginx', 'apt-get install -y nginx')
if (redisPath !== undefined && nginxPath !== undefined) {
  t.test('npm run demo:cluster: one chat room across two instances behind nginx; Ctrl+C stops everything it started', async (t) => {
    const port = await freePort()
    const cluster = run(t, 'cluster.ts', { PORT: String(port) })
    await cluster.line(/cluster demo: open http:\/\/127\.0\.0\.1:\d+ in two tabs/, 120_000)
    const [, redisPort, portA, portB] = await cluster.line(/Redis redis:\/\/127\.0\.0\.1:(\d+), instances on ports (\d+) and (\d+)/)
    const url = `http://127.0.0.1:${port}`
    const message = await messageIn(url, 'lobby', 'through nginx', () => post(`${url}/rooms/lobby/messages`, { from: 'bob', text: 'through nginx' }))
    t.match(message, { from: 'bob', text: 'through nginx' })

    const [code, signal] = await cluster.stop('SIGINT')
    t.equal(signal ?? code, 0, 'exits by itself on Ctrl+C')
    for (const [what, p] of [['nginx', port], ['redis-server', redisPort], ['instance 1', portA], ['instance 2', portB]] as const) {
      t.notOk(await accepts(Number(p)), `${what} stopped`)
    }
  })
}
