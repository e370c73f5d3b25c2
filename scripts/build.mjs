// Builds dist/: the CommonJS runtime with its typings (dist/cjs), and typings
// for ESM consumers (dist/esm). Both `import` and `require` of the plugin load
// the one CommonJS runtime, so an app never holds two copies of it. The client
// also gets an ESM runtime (dist/esm/lib/client), which browsers load as it is.
import { execFileSync } from 'node:child_process'
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true })
for (const project of ['tsconfig.build.json', 'tsconfig.esm.json', 'tsconfig.client.json']) {
  execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit', cwd: new URL('..', import.meta.url) })
}
writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n')
// tsc does not emit the hand-written typings it reads; both typings trees import this one.
for (const format of ['cjs', 'esm']) {
  copyFileSync(new URL('../types/typebox1.d.ts', import.meta.url), new URL(`../dist/${format}/types/typebox1.d.ts`, import.meta.url))
}
writeCommonJsTypings()

/**
 * `require` consumers get the `export =` plus namespace typings of types/commonjs.d.ts
 * as dist/cjs/index.d.ts; tsc's typings of index.ts, which it imports, become
 * dist/cjs/entry.d.ts. Fails the build if the namespace misses an export of the entry.
 */
function writeCommonJsTypings () {
  const cjs = new URL('../dist/cjs/', import.meta.url)
  renameSync(new URL('index.d.ts', cjs), new URL('entry.d.ts', cjs))
  const typings = readFileSync(new URL('../types/commonjs.d.ts', import.meta.url), 'utf8')
  writeFileSync(new URL('index.d.ts', cjs), typings.replace("from '../index.js'", "from './entry.js'"))

  const ts = createRequire(import.meta.url)('typescript')
  const files = ['entry.d.ts', 'index.d.ts'].map(name => fileURLToPath(new URL(name, cjs)))
  const program = ts.createProgram(files, { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, noEmit: true, skipLibCheck: true, types: ['node'] })
  const checker = program.getTypeChecker()
  const [entryNames, namespaceNames] = files.map(file => checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file))).map(symbol => symbol.name))
  const missing = entryNames.filter(name => !namespaceNames.includes(name))
  if (missing.length > 0) throw new Error(`types/commonjs.d.ts does not export ${missing.join(', ')}: add them to its namespace`)
}
writeFileSync(new URL('../dist/esm/package.json', import.meta.url), '{ "type": "module" }\n')
