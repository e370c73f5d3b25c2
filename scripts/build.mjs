// Builds dist/: the CommonJS runtime with its typings (dist/cjs), and typings
// for ESM consumers (dist/esm). Both `import` and `require` of the plugin load
// the one CommonJS runtime, so an app never holds two copies of it. The client
// also gets an ESM runtime (dist/esm/lib/client), which browsers load as it is.
import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true })
for (const project of ['tsconfig.build.json', 'tsconfig.esm.json', 'tsconfig.client.json']) {
  execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit', cwd: new URL('..', import.meta.url) })
}
writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n')
writeFileSync(new URL('../dist/esm/package.json', import.meta.url), '{ "type": "module" }\n')
