// Network faults without a process dying: iptables rules that drop loopback
// packets of one port, silently (no RST, no FIN), all of them or a random share;
// and a clamp of the segment size, so that loopback connections get the buffers
// of a real network.
// Only rules for ports the caller opened, each tagged with this process's pid,
// and each removed again with `-D` and the same spec: on teardown, when the
// process exits, and on SIGINT/SIGTERM. Never a flush: other programs on the
// machine may have rules of their own.

import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { findProgram } from './programs.js'

export const IPTABLES_INSTALL = 'apt-get install -y iptables'

/** What the helpers need of a tap test: a teardown (the soak passes its own). */
export interface Teardowns {
  teardown: (fn: () => unknown) => void
}

const run = promisify(execFile)

/**
 * iptables' path, once it has been seen to work here (it needs root). Otherwise
 * records a skip naming the install command (a failure when CI=true) and returns
 * undefined: the caller adds no tests then.
 */
export function requireIptables (t: Test): string | undefined {
  const problem = iptablesProblem()
  if (problem === undefined) return findProgram('iptables')
  if (process.env.CI === 'true') t.fail(problem)
  else t.skip(problem, () => {})
  return undefined
}

/** Why iptables cannot be used here, or undefined when it can. */
export function iptablesProblem (): string | undefined {
  const path = findProgram('iptables')
  if (path === undefined) return `iptables is not on PATH; install it with: ${IPTABLES_INSTALL}`
  try {
    execFileSync(path, ['-w', '-S', 'INPUT'], { stdio: 'pipe' })
    return undefined
  } catch (err) {
    return `iptables does not work here (it needs root and the kernel's netfilter): ${(err as Error).message.split('\n')[0]}`
  }
}

export interface DropOptions {
  /**
   * Which packets of `port`'s connections: `'both'` (default; a partition), `'to'`
   * (packets sent to the port: what a client sends to a server there) or `'from'`
   * (packets sent from the port: what that server sends back).
   */
  direction?: 'both' | 'to' | 'from'
  /** Drop each packet with this probability (0..1), instead of every packet. */
  probability?: number
}

export interface Drop {
  readonly port: number | readonly [number, number]
  /** Removes exactly the rules this drop added (idempotent). */
  remove: () => Promise<void>
  /** The `iptables -S` lines of this drop's rules, as added. */
  readonly rules: readonly string[]
}

/** A rule as added: its table and its spec after `-A`/`-D`. */
interface Rule {
  readonly table: 'filter' | 'mangle'
  readonly spec: readonly string[]
}

/** Rules added by this process and not removed yet. */
const active = new Set<Rule>()
const tag = `fastify-typed-sse-test-${process.pid}`
let exitHooked = false

/**
 * Drops loopback packets of `port` (or of a range of ports, both ends included)
 * until `remove()` (and at teardown, exit and signals at the latest). The drop
 * starts when this resolves.
 */
export async function dropPort (t: Teardowns, port: number | readonly [from: number, to: number], options: DropOptions = {}): Promise<Drop> {
  const [from, to] = typeof port === 'number' ? [port, port] : port
  if (!isPort(from) || !isPort(to) || from > to) throw new RangeError(`not a port or a range of ports: ${String(port)}`)
  const ports = from === to ? String(from) : `${from}:${to}`
  const { direction = 'both', probability } = options
  if (probability !== undefined && !(probability > 0 && probability <= 1)) throw new RangeError(`probability must be in (0, 1], got ${probability}`)
  const path = findProgram('iptables')
  if (path === undefined) throw new Error(`iptables is not on PATH; install it with: ${IPTABLES_INSTALL}`)
  hookExit(path)
  const matches = direction === 'both' ? ['--dport', '--sport'] : [direction === 'to' ? '--dport' : '--sport']
  const rules = matches.map((match): Rule => ({
    table: 'filter',
    spec: [
      'INPUT', '-i', 'lo', '-p', 'tcp', match, ports,
      ...(probability === undefined ? [] : ['-m', 'statistic', '--mode', 'random', '--probability', String(probability)]),
      '-m', 'comment', '--comment', tag,
      '-j', 'DROP'
    ]
  }))
  const remove = await addRules(t, path, rules)
  return { port, remove, rules: rules.map(rule => '-A ' + rule.spec.join(' ')) }
}

/**
 * Connections to `port` opened from now on (until `remove()`, teardown, exit or a
 * signal) use segments of at most `mss` bytes, as on a real network (loopback's
 * are 64 KiB): the SYN's MSS option is clamped, so the kernel sizes the socket's
 * send buffer for that MSS too.
 */
export async function clampMss (t: Teardowns, port: number, mss: number): Promise<{ remove: () => Promise<void> }> {
  if (!isPort(port)) throw new RangeError(`not a port: ${port}`)
  if (!Number.isInteger(mss) || mss < 536 || mss > 65495) throw new RangeError(`mss must be an integer from 536 to 65495, got ${mss}`)
  const path = findProgram('iptables')
  if (path === undefined) throw new Error(`iptables is not on PATH; install it with: ${IPTABLES_INSTALL}`)
  hookExit(path)
  const rule: Rule = {
    table: 'mangle',
    spec: ['OUTPUT', '-o', 'lo', '-p', 'tcp', '--dport', String(port), '--tcp-flags', 'SYN,RST', 'SYN', '-m', 'comment', '--comment', tag, '-j', 'TCPMSS', '--set-mss', String(mss)]
  }
  return { remove: await addRules(t, path, [rule]) }
}

/** Adds the rules (all or none); the returned function removes exactly them, and is also called at teardown. */
async function addRules (t: Teardowns, path: string, rules: Rule[]): Promise<() => Promise<void>> {
  const added: Rule[] = []
  const remove = async (): Promise<void> => {
    for (const rule of added.splice(0)) {
      active.delete(rule)
      await run(path, ['-w', '-t', rule.table, '-D', ...rule.spec])
    }
  }
  try {
    for (const rule of rules) {
      await run(path, ['-w', '-t', rule.table, '-A', ...rule.spec])
      added.push(rule)
      active.add(rule)
    }
  } catch (err) {
    await remove()
    throw err
  }
  t.teardown(remove)
  return remove
}

function isPort (port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535
}

/** The `iptables -S` lines of rules this process added and has not removed (none, once everything is torn down). */
export function leftoverRules (): string[] {
  const path = findProgram('iptables')
  if (path === undefined) return []
  return ['filter', 'mangle'].flatMap(table => execFileSync(path, ['-w', '-t', table, '-S'], { encoding: 'utf8' }).split('\n'))
    .filter(line => line.includes(tag))
}

/** On exit and on SIGINT/SIGTERM, removes what is still in place, synchronously. */
function hookExit (path: string): void {
  if (exitHooked) return
  exitHooked = true
  const removeAll = (): void => {
    for (const rule of active) {
      try {
        execFileSync(path, ['-w', '-t', rule.table, '-D', ...rule.spec], { stdio: 'ignore' })
      } catch {
        // already gone
      }
    }
    active.clear()
  }
  process.once('exit', removeAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // First in line, so that it sees whether anyone else handles the signal.
    const onSignal = (): void => {
      removeAll()
      const handledElsewhere = process.listenerCount(signal) > 1
      process.removeListener(signal, onSignal)
      // Without other handlers, die of the signal as the process would have without this one.
      if (!handledElsewhere) process.kill(process.pid, signal)
    }
    process.prependListener(signal, onSignal)
  }
}
