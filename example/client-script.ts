// The typed client (fastify-typed-sse/client) as one ES module for the demo page,
// bundled from its sources once, when the demo starts: the page imports /client.js.

import { build } from 'esbuild'
import { join } from 'node:path'

let bundled: Promise<string> | undefined

/** The bundle, made on the first call and shared by every app after it. */
export function clientScript (): Promise<string> {
  bundled ??= bundle()
  return bundled
}

async function bundle (): Promise<string> {
  const result = await build({
    entryPoints: [join(__dirname, '..', 'lib', 'client', 'index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent'
  })
  return result.outputFiles[0]!.text
}
