// `npm run demo:cluster`: the demo as a cluster on this machine. One redis-server
// (AOF on, in a temp dir), two demo instances on it (REDIS_URL), and nginx in
// front of them, round-robin, with the shipped example/nginx.conf. Open the URL
// it prints in two tabs: each reconnect may land on the other instance, and the
// chat room still shows every message once. Ctrl+C stops everything.
// PORT (default 8080) is nginx's port; the rest listens on free loopback ports.
//
// `npm run demo:cluster -- --redis-cluster`: the same on a Redis Cluster instead,
// six redis-servers (3 masters, 3 replicas, AOF on) joined with redis-cli.

import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'

const onCluster = process.argv.includes('--redis-cluster')

const INSTALL = {
  'redis-server': 'apt-get install -y redis-server (or brew install redis)',
  nginx: 'apt-get install -y nginx (or brew install nginx)',
  ...(onCluster ? { 'redis-cli': 'apt-get install -y redis-tools (or brew install redis)' } : {})
}

const children: ChildProcess[] = []
let dir: string | undefined

async function main (): Promise<void> {
  const missing = Object.keys(INSTALL).filter(name => findProgram(name) === undefined)
  if (missing.length > 0) {
    for (const name of missing) console.error(`${name} is not on PATH; install it with: ${(INSTALL as Record<string, string>)[name]}`)
    process.exitCode = 1
    return
  }
  const port = Number(process.env.PORT ?? 8080)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`PORT must be a port number, got ${process.env.PORT}`)
  dir = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-cluster-'))

  const redisEnv = onCluster ? { REDIS_CLUSTER: await startCluster(dir) } : { REDIS_URL: await startRedis(dir, 'redis') }
  const redisUrl = redisEnv.REDIS_URL ?? `a Redis Cluster (${redisEnv.REDIS_CLUSTER ?? ''})`

  const instancePorts = [await freePort(), await freePort()]
  for (const [i, instancePort] of instancePorts.entries()) {
    start(`instance ${i + 1}`, process.execPath, ['--import', 'tsx', join(__dirname, 'server.ts')], {
      ...process.env, PORT: String(instancePort), HOST: '127.0.0.1', ...redisEnv
    })
  }
  await Promise.all(instancePorts.map(instancePort => waitForPort(instancePort, 'a demo instance', 60_000)))

  writeFileSync(join(dir, 'site.conf'), siteConfig(instancePorts, port))
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  include ${join(dir, 'site.conf')};
}
`)
  start('nginx', findProgram('nginx') as string, ['-p', dir + '/', '-c', join(dir, 'nginx.conf'), '-e', 'stderr'])
  await waitForPort(port, 'nginx')

  console.log(`Redis ${redisUrl}, instances on ports ${instancePorts.join(' and ')}, nginx round-robin in front.`)
  console.log(`fastify-typed-sse cluster demo: open http://127.0.0.1:${port} in two tabs (Ctrl+C stops everything)`)
}

/** One redis-server (AOF on) in its own dir under `dir`; its URL. */
async function startRedis (dir: string, name: string, args: string[] = []): Promise<string> {
  const port = await freePort()
  const nodeDir = join(dir, name.replace(/\W+/g, '-'))
  mkdirSync(nodeDir)
  start(name, findProgram('redis-server') as string, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--save', '', '--appendonly', 'yes', '--logfile', '', ...args
  ])
  await waitForPort(port, name)
  return `redis://127.0.0.1:${port}`
}

/** Six cluster-enabled redis-servers joined into 3 masters with one replica each; their host:port list. */
async function startCluster (dir: string): Promise<string> {
  const nodes: string[] = []
  for (let i = 1; i <= 6; i++) nodes.push((await startRedis(dir, `redis ${i}`, ['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000'])).slice('redis://'.length))
  await new Promise<void>((resolve, reject) => {
    execFile(findProgram('redis-cli') as string, ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes'], (err, stdout) => {
      if (err !== null) reject(new Error(`redis-cli --cluster create failed: ${err.message}\n${stdout}`))
      else resolve()
    })
  })
  // The slots are assigned; give the nodes a moment to agree before the instances connect.
  await new Promise(resolve => setTimeout(resolve, 2000))
  return nodes.join(',')
}

/** example/nginx.conf with both instances in its upstream and nginx on `port`. */
function siteConfig (instancePorts: number[], port: number): string {
  const shipped = readFileSync(join(__dirname, 'nginx.conf'), 'utf8')
  return replaceOnce(replaceOnce(shipped, 'server 127.0.0.1:3000;', instancePorts.map(p => `server 127.0.0.1:${p};`).join('\n  ')),
    'listen 8080;', `listen 127.0.0.1:${port};`)
}

function replaceOnce (text: string, search: string, replacement: string): string {
  const parts = text.split(search)
  if (parts.length !== 2) throw new Error(`example/nginx.conf should contain "${search}" exactly once`)
  return parts.join(replacement)
}

/** Starts a child whose output is shown prefixed with its name; any child that dies stops the demo. */
function start (name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', line => console.log(`[${name}] ${line}`))
  }
  child.once('exit', (code, signal) => {
    if (stopping) return
    console.error(`[${name}] exited (${signal ?? code}); stopping the demo`)
    stop()
  })
}

let stopping = false

function stop (): void {
  if (stopping) return
  stopping = true
  // Instances first (they close their streams and quit their Redis connections), then nginx and Redis.
  const redis = children.filter(child => child.spawnargs[0] === findProgram('redis-server'))
  const rest = children.filter(child => !redis.includes(child))
  Promise.all(rest.reverse().map(stopChild))
    .then(() => Promise.all(redis.map(stopChild)))
    .finally(() => {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

function findProgram (name: string): string | undefined {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (directory === '') continue
    try {
      accessSync(join(directory, name), constants.X_OK)
      return join(directory, name)
    } catch {
      // not in this directory
    }
  }
  return undefined
}

async function freePort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

async function waitForPort (port: number, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await new Promise<boolean>(resolve => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })) {
    if (stopping) throw new Error(`stopped while waiting for ${what}`)
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

process.once('SIGINT', stop)
process.once('SIGTERM', stop)

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
  stop()
})
