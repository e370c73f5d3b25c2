// The redis-server of hub-redis: started by the bench itself on a free loopback port,
// with no persistence, stopped through its own process handle; and its CPU time.

import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import Redis from 'ioredis'

export const REDIS_INSTALL = 'apt-get install -y redis-server'

/** redis-server's path on PATH, or undefined. */
export function findRedisServer (): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'redis-server')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')))
    })
  })
}

export interface RunningRedis {
  url: string
  port: number
  /** A connection for the bench's own commands (INFO, CLUSTER ...). */
  admin: Redis
  /** used_cpu_user + used_cpu_sys of the server so far, in microseconds */
  cpuMicros: () => Promise<number>
  stop: () => Promise<void>
}

export async function startRedis (path: string, args: string[] = []): Promise<RunningRedis> {
  const port = await freePort()
  const child: ChildProcess = spawn(path, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '', ...args
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const url = `redis://127.0.0.1:${port}`
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  // Refused connections while the server starts: the commands below report what matters.
  admin.on('error', () => {})
  const stop = async (): Promise<void> => {
    admin.disconnect()
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  try {
    const deadline = Date.now() + 10_000
    while (true) {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${output.trim().slice(-300)}`)
      try {
        if (admin.status === 'wait') await admin.connect()
        await admin.ping()
        break
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`redis-server did not answer within 10 s: ${(err as Error).message}`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  const cpuMicros = async (): Promise<number> => {
    const info = await admin.info('cpu')
    const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN)
    return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6
  }
  return { url, port, admin, cpuMicros, stop }
}
