// The Redis Cluster of hub-redis-cluster: six redis-servers (bench/redis.ts, each in
// its own temp dir) joined by `redis-cli --cluster create` into 3 masters with one
// replica each; its CPU time (all six nodes), and a graceful failover on demand.

import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { accessSync, constants } from 'node:fs'
import { promisify } from 'node:util'
import { startRedis, type RunningRedis } from './redis.js'

const run = promisify(execFile)

export const REDIS_CLI_INSTALL = 'apt-get install -y redis-tools'

/** redis-cli's path on PATH, or undefined. */
export function findRedisCli (): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'redis-cli')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

export interface RunningCluster {
  /** `cluster://host:port,...`, what the bench's servers take as BENCH_REDIS_URL */
  url: string
  /** used CPU of all six nodes so far, in microseconds */
  cpuMicros: () => Promise<number>
  /** CLUSTER FAILOVER on one replica (its master's slots move to it, nothing lost); resolves once it is master */
  failover: () => Promise<void>
  stop: () => Promise<void>
}

export async function startRedisCluster (serverPath: string, cliPath: string): Promise<RunningCluster> {
  const dirs: string[] = []
  const nodes: RunningRedis[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(node => node.stop()))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 6; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'bench-redis-cluster-'))
      dirs.push(dir)
      nodes.push(await startRedis(serverPath, ['--dir', dir, '--cluster-enabled', 'yes', '--cluster-node-timeout', '2000']))
    }
    await run(cliPath, ['--cluster', 'create', ...nodes.map(node => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 })
    const deadline = Date.now() + 30_000
    while (!(await Promise.all(nodes.map(async node => String(await node.admin.call('CLUSTER', 'INFO'))))).every(info => info.includes('cluster_state:ok'))) {
      if (Date.now() > deadline) throw new Error('the cluster did not become ready within 30 s')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  } catch (err) {
    await stop()
    throw err
  }
  const roleOf = async (node: RunningRedis): Promise<string> => /role:(\w+)/.exec(await node.admin.info('replication'))?.[1] ?? ''
  return {
    url: 'cluster://' + nodes.map(node => `127.0.0.1:${node.port}`).join(','),
    cpuMicros: async () => (await Promise.all(nodes.map(node => node.cpuMicros()))).reduce((sum, cpu) => sum + cpu, 0),
    failover: async () => {
      let replica: RunningRedis | undefined
      for (const node of nodes) if (replica === undefined && await roleOf(node) === 'slave') replica = node
      if (replica === undefined) throw new Error('no replica to fail over to')
      await replica.admin.call('CLUSTER', 'FAILOVER')
      const deadline = Date.now() + 30_000
      while (await roleOf(replica) !== 'master') {
        if (Date.now() > deadline) throw new Error('the failover did not finish within 30 s')
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    stop
  }
}
