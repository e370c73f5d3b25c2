// Tests that drive real programs (chromium, nginx) find them on PATH. Missing,
// they skip with the command that installs them; under CI=true they fail,
// so that a CI run can never pass by skipping.

import type { ChildProcess } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { Test } from 'tap'

/** The program's path on PATH, or undefined. */
export function findProgram (name: string): string | undefined {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (directory === '') continue
    const candidate = join(directory, name)
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

/**
 * The program's path. When it is missing, records a skip that names the install
 * command (a failure when CI=true) and returns undefined: the caller adds no tests then.
 */
export function requireProgram (t: Test, name: string, installCommand: string): string | undefined {
  const path = findProgram(name)
  if (path !== undefined) return path
  const message = `${name} is not on PATH; install it with: ${installCommand}`
  if (process.env.CI === 'true') t.fail(message)
  else t.skip(message, () => {})
  return undefined
}

/** Children still running, killed if the test process exits first. */
const running = new Set<ChildProcess>()

/**
 * Kills the child (SIGKILL, by pid) if the test process exits while it still runs: a
 * crash (an uncaught error) skips the teardowns that would have stopped it.
 */
export function killOnExit (child: ChildProcess): void {
  if (running.size === 0) process.once('exit', killRunning)
  running.add(child)
  child.once('exit', () => {
    running.delete(child)
    if (running.size === 0) process.off('exit', killRunning)
  })
}

function killRunning (): void {
  for (const child of running) child.kill('SIGKILL')
}
