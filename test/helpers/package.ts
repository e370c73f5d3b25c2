// The published package, as a user installs it: `npm pack` (which builds dist/
// through prepack) and the tarball extracted where a consumer's node_modules
// expects it; and the child processes (node, tsc) that consume it.

import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'

export const repoRoot = path.resolve(__dirname, '..', '..')
export const tsc = require.resolve('typescript/bin/tsc')

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

// Children get a clean NODE_OPTIONS: the test runner's loaders must not shape what they see.
const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' }

/** Runs a program to its end; never rejects, so results can be awaited later. */
export function run (file: string, args: string[], cwd: string, timeout = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: childEnv, timeout, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null
      resolve({ code, stdout, stderr: error !== null && code === null ? `${stderr}\n${error.message}` : stderr })
    })
  })
}

export function outcome (result: Run): string {
  return `exit code ${result.code}\n${result.stdout}\n${result.stderr}`.trim()
}

/**
 * Packs the repo into `tmp` and extracts the tarball to `installed` (a
 * node_modules/fastify-typed-sse directory). Returns the files npm packed.
 */
export async function packInto (tmp: string, installed: string): Promise<string[]> {
  // The build runs tsc three times: give it room on a busy machine.
  const pack = await run('npm', ['pack', '--json', '--pack-destination', tmp], repoRoot, 600_000)
  if (pack.code !== 0) throw new Error(`npm pack failed: ${outcome(pack)}`)
  const [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string, files: Array<{ path: string }> }>
  await mkdir(installed, { recursive: true })
  const untar = await run('tar', ['-xzf', path.join(tmp, packed!.filename), '-C', installed, '--strip-components=1'], tmp)
  if (untar.code !== 0) throw new Error(`tar failed: ${outcome(untar)}`)
  return packed!.files.map((file) => file.path).sort()
}

/** tsc's errors with their explanations, without the file list of --listFiles. */
export function diagnostics (compile: Run): string {
  return [...compile.stdout.split('\n').filter((line) => line.trim() !== '' && !path.isAbsolute(line.trim())), compile.stderr].join('\n').trim()
}

/** The files tsc's --listFiles names, with forward slashes. */
export function compiledFiles (compile: Run): string[] {
  return compile.stdout.split('\n').map((line) => line.trim().replaceAll('\\', '/')).filter((line) => line !== '' && !/ error TS\d+/.test(line))
}
