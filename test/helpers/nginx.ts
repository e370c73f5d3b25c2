// A real nginx for a test: example/nginx.conf (the file the README shows) with its
// upstream pointed at the app under test and its listen address on a free loopback
// port, inside a generated top-level config whose paths all live in a temp dir.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Teardowns } from './iptables.js'
import { freePort } from './free-port.js'
import { killOnExit } from './programs.js'

export const RECOMMENDED_CONFIG = join(__dirname, '..', '..', 'example', 'nginx.conf')

export interface RunningNginx {
  url: string
  /** What nginx wrote to its error log (stderr) so far. */
  errorLog: () => string
}

export interface NginxOptions {
  /** The port of the app nginx proxies to; several ports: round-robin over them. */
  upstreamPort: number | readonly number[]
  /** Ports of servers that get requests only when the others fail (`server ... backup;`). */
  backupPorts?: readonly number[]
  /** Extra directives for the http {} block, e.g. `proxy_read_timeout 1s;`. */
  httpDirectives?: string[]
  /** nginx's worker_connections (two per proxied stream). Default 256. */
  workerConnections?: number
}

/** Starts nginx with the recommended config in front of `upstreamPort`; stopped on teardown. */
export async function startNginx (t: Teardowns, nginxPath: string, options: NginxOptions): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'fastify-typed-sse-nginx-'))
  t.teardown(() => rmSync(prefix, { recursive: true, force: true }))
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launch(t, nginxPath, prefix, options, await freePort())
    } catch (err) {
      lastError = err // most likely another process took the port first: try another
    }
  }
  throw lastError
}

async function launch (t: Teardowns, nginxPath: string, prefix: string, options: NginxOptions, port: number): Promise<RunningNginx> {
  writeFileSync(join(prefix, 'site.conf'), siteConfig(options.upstreamPort, options.backupPorts ?? [], port))
  writeFileSync(join(prefix, 'nginx.conf'), `
# One process, so that stopping it leaves nothing behind; everything under ${prefix}.
daemon off;
master_process off;
pid ${join(prefix, 'nginx.pid')};
error_log stderr info;
events { worker_connections ${options.workerConnections ?? 256}; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'client_body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  ${(options.httpDirectives ?? []).join('\n  ')}
  include ${join(prefix, 'site.conf')};
}
`)
  // -e: the error log nginx opens before it reads its config (default /var/log/nginx/error.log).
  const child = spawn(nginxPath, ['-p', prefix + '/', '-c', join(prefix, 'nginx.conf'), '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] })
  killOnExit(child)
  let errorLog = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { errorLog += chunk })
  const exited = once(child, 'exit')

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  const deadline = Date.now() + 10_000
  while (!await canConnect(port)) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errorLog}`)
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`nginx did not listen on 127.0.0.1:${port} within 10 s: ${errorLog}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.teardown(stop)
  return { url: `http://127.0.0.1:${port}`, errorLog: () => errorLog }
}

/** example/nginx.conf with the app's address(es) and a loopback listen address. */
function siteConfig (upstreamPort: number | readonly number[], backupPorts: readonly number[], listenPort: number): string {
  const recommended = readFileSync(RECOMMENDED_CONFIG, 'utf8')
  const servers = [
    ...(typeof upstreamPort === 'number' ? [upstreamPort] : upstreamPort).map(port => `server 127.0.0.1:${port};`),
    ...backupPorts.map(port => `server 127.0.0.1:${port} backup;`)
  ].join('\n  ')
  return replaceOnce(replaceOnce(recommended, 'server 127.0.0.1:3000;', servers),
    'listen 8080;', `listen 127.0.0.1:${listenPort};`)
}

function replaceOnce (text: string, search: string, replacement: string): string {
  const parts = text.split(search)
  if (parts.length !== 2) throw new Error(`example/nginx.conf should contain "${search}" exactly once`)
  return parts.join(replacement)
}

function canConnect (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
