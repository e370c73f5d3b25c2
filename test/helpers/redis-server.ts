// A real redis-server for a test: its own free loopback port and temp dir, with
// or without AOF, started and stopped by pid. Stopped and restarted on the same
// port, it is what clients see when Redis restarts; without AOF (and with RDB
// snapshots off) a restart loses everything, with AOF it keeps it.

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { Teardowns } from './iptables.js'
import { killOnExit, requireProgram } from './programs.js'
import { freePort } from './free-port.js'

export const REDIS_INSTALL = 'apt-get install -y redis-server'

/** redis-server's path, or undefined after recording a skip (a failure when CI=true). */
export function requireRedisServer (t: Test): string | undefined {
  return requireProgram(t, 'redis-server', REDIS_INSTALL)
}

export interface RedisServerOptions {
  /** Append-only file on (`appendfsync always`): a restart keeps every write. Default false. */
  aof?: boolean
  /** Extra config lines as command-line pairs, e.g. ['client-output-buffer-limit', 'pubsub 1mb 1mb 0']. */
  args?: string[]
  /** How long a (re)start may take to answer PING: loading a large AOF takes a while. Default 10 s. */
  startTimeoutMs?: number
}

export interface RunningRedis {
  readonly port: number
  readonly url: string
  /** Its working dir (dump.rdb, the AOF): a test may put a dataset there while it is stopped. */
  readonly dir: string
  /** The pid of the running server, undefined while it is stopped. */
  readonly pid: number | undefined
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop: () => Promise<void>
  /** Starts it again on the same port and dir (after stop()). */
  start: () => Promise<void>
}

/** Starts redis-server on a free loopback port; stopped and its dir removed on teardown. */
export async function startRedis (t: Teardowns, redisPath: string, options: RedisServerOptions = {}): Promise<RunningRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-redis-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let child: ChildProcess | undefined
  let port = 0

  const args = (): string[] => [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', options.aof === true ? 'yes' : 'no',
    '--appendfsync', 'always',
    '--logfile', '',
    ...(options.args ?? [])
  ]

  const stop = async (): Promise<void> => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = once(running, 'exit')
    running.kill('SIGTERM')
    const timer = setTimeout(() => running.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('redis-server is already running')
    const launched = spawn(redisPath, args(), { stdio: ['ignore', 'pipe', 'pipe'] })
    killOnExit(launched)
    let output = ''
    launched.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    launched.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    child = launched
    const startTimeoutMs = options.startTimeoutMs ?? 10_000
    const deadline = Date.now() + startTimeoutMs
    while (!await answersPing(port)) {
      if (launched.exitCode !== null) {
        child = undefined
        throw new Error(`redis-server exited with ${launched.exitCode}: ${output}`)
      }
      if (Date.now() > deadline) {
        await stop()
        throw new Error(`redis-server did not answer on 127.0.0.1:${port} within ${startTimeoutMs / 1000} s: ${output}`)
      }
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  }

  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort()
    try {
      await start()
      t.teardown(stop)
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        dir,
        get pid () { return child?.pid },
        stop,
        start
      }
    } catch (err) {
      lastError = err // most likely another process took the port first: try another
    }
  }
  throw lastError
}

/** Whether a Redis answers PING on the port (and is done loading its data). */
function answersPing (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1')
    let reply = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setEncoding('utf8')
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk: string) => {
      reply += chunk
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
    socket.once('error', () => done(false))
    socket.setTimeout(1000, () => done(false))
  })
}
