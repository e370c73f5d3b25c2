// A real Redis Cluster for a test: six redis-server processes (test/helpers/
// redis-server.ts, each on its own free port and temp dir) joined by
// `redis-cli --cluster create` into 3 masters with one replica each, and stopped
// by pid on teardown. A short node timeout keeps failovers fast.

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { requireProgram } from './programs.js'
import { requireRedisServer, startRedis, type RunningRedis } from './redis-server.js'

const run = promisify(execFile)

export const REDIS_CLI_INSTALL = 'apt-get install -y redis-tools'

/** The paths of redis-server and redis-cli, or undefined after recording a skip (a failure when CI=true). */
export function requireRedisCluster (t: Test): { server: string, cli: string } | undefined {
  const server = requireRedisServer(t)
  const cli = requireProgram(t, 'redis-cli', REDIS_CLI_INSTALL)
  return server === undefined || cli === undefined ? undefined : { server, cli }
}

export interface ClusterNodeInfo {
  readonly port: number
  readonly role: 'master' | 'replica'
  /** The master's port, for a replica. */
  readonly masterPort: number | undefined
  readonly id: string
  /** The slots a master serves (empty for a replica). */
  readonly slots: number[]
}

export interface RunningCluster {
  /** The six servers, in the order they were started. */
  readonly servers: RunningRedis[]
  /** Startup nodes for `new Redis.Cluster(...)`. */
  readonly startupNodes: Array<{ host: string, port: number }>
  /** Runs redis-cli against one node (`-p port`), returning its output. */
  cli: (port: number, ...args: string[]) => Promise<string>
  /** Who is master of what, as one node sees it (the first one that answers). */
  topology: () => Promise<ClusterNodeInfo[]>
  /** Waits until every running node reports cluster_state:ok and agrees on three masters covering every slot. */
  waitHealthy: (timeoutMs?: number) => Promise<void>
  /** The server of a port. */
  server: (port: number) => RunningRedis
}

export const NODE_TIMEOUT_MS = 1000

/** Starts a 3-master, 3-replica cluster on free loopback ports. */
export async function startRedisCluster (t: Test, paths: { server: string, cli: string }): Promise<RunningCluster> {
  const servers = await Promise.all(Array.from({ length: 6 }, () => startRedis(t, paths.server, {
    args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--cluster-require-full-coverage', 'no']
  })))
  const cli = async (port: number, ...args: string[]): Promise<string> => {
    const { stdout } = await run(paths.cli, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 60_000 })
    return stdout
  }
  await cli(servers[0]!.port, '--cluster', 'create', ...servers.map(s => `127.0.0.1:${s.port}`), '--cluster-replicas', '1', '--cluster-yes')

  const topology = async (): Promise<ClusterNodeInfo[]> => {
    let lastError: unknown
    for (const server of servers) {
      if (server.pid === undefined) continue
      try {
        return parseNodes(await cli(server.port, 'CLUSTER', 'NODES'))
      } catch (err) {
        lastError = err
      }
    }
    throw lastError ?? new Error('no cluster node is running')
  }

  const waitHealthy = async (timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < deadline) {
      try {
        const running = servers.filter(s => s.pid !== undefined)
        const states = await Promise.all(running.map(s => cli(s.port, 'CLUSTER', 'INFO')))
        const views = await Promise.all(running.map(async s => parseNodes(await cli(s.port, 'CLUSTER', 'NODES'))))
        const masters = views.map(view => view.filter(n => n.role === 'master' && n.slots.length > 0).map(n => n.port).sort().join(','))
        const covered = views[0]!.filter(n => n.role === 'master').reduce((sum, n) => sum + n.slots.length, 0)
        last = `states ${states.map(s => /cluster_state:(\w+)/.exec(s)?.[1]).join(',')}, masters ${masters.join(' | ')}, ${covered} slots`
        if (states.every(s => s.includes('cluster_state:ok')) && new Set(masters).size === 1 && covered === 16384 && masters[0]!.split(',').length === 3) return
      } catch (err) {
        last = String(err)
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    throw new Error(`the cluster did not become healthy within ${timeoutMs} ms: ${last}`)
  }

  await waitHealthy()
  return {
    servers,
    startupNodes: servers.map(s => ({ host: '127.0.0.1', port: s.port })),
    cli,
    topology,
    waitHealthy,
    server: (port) => {
      const found = servers.find(s => s.port === port)
      if (found === undefined) throw new Error(`no cluster node on port ${port}`)
      return found
    }
  }
}

/** `CLUSTER NODES` output, parsed (failed and handshake nodes left out). */
function parseNodes (output: string): ClusterNodeInfo[] {
  const lines = output.trim().split('\n').map(line => line.trim().split(' '))
  const portOf = new Map(lines.map(fields => [fields[0] as string, Number(/:(\d+)@/.exec(fields[1] as string)?.[1])]))
  return lines.filter(fields => !/fail|handshake|noaddr/.test(fields[2] as string)).map(fields => {
    const flags = fields[2] as string
    const slots: number[] = []
    for (const range of fields.slice(8)) {
      if (range.startsWith('[')) continue // a slot being migrated
      const [from, to = from] = range.split('-').map(Number) as [number, number?]
      for (let slot = from; slot <= (to as number); slot++) slots.push(slot)
    }
    const master = fields[3] as string
    return {
      port: portOf.get(fields[0] as string) as number,
      role: flags.includes('master') ? 'master' : 'replica',
      masterPort: master === '-' ? undefined : portOf.get(master),
      id: fields[0] as string,
      slots
    }
  })
}
