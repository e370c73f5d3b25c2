// The published package, as a user installs it: `npm pack` (which builds dist/
// through prepack), the tarball extracted to node_modules/fastify-typed-sse of a
// temporary directory inside the repo (so fastify, TypeBox and TypeScript resolve
// from the repo's node_modules), then consumers loading it from there: ESM and
// CommonJS apps that stream over a real socket, and TypeScript projects (ESM and
// CommonJS) that must type-check against the packed typings.
//
// Each consumer directory has its own package.json: without it, Node and
// TypeScript would resolve 'fastify-typed-sse' to the repo itself (a package may
// import itself by name), not to the packed copy.
// The TypeScript consumers live in fixtures/package/.typescript: the repo's own
// tsconfig skips dot directories, and those files only compile against the package.
// They check every declaration file they load (skipLibCheck off, TypeScript's
// default), so an error in the packed typings fails them; only TypeScript's own
// lib files are skipped, for speed.

import { cp, mkdtemp, readFile, readdir, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { compiledFiles, diagnostics, outcome, packInto, run, tsc, type Run } from './helpers/package.js'

// Packing builds with tsc and every consumer type-checks: minutes on a busy machine.
t.setTimeout(10 * 60_000)

const repoRoot = path.resolve(__dirname, '..')
const fixtures = path.join(__dirname, 'fixtures', 'package')

/** The JSON line a consumer prints last. */
function report (result: Run): Record<string, unknown> {
  const lastLine = result.stdout.trim().split('\n').at(-1) ?? ''
  return JSON.parse(lastLine)
}

let tmp = ''
let installed = ''
let packedFiles: string[] = []
interface Consumers {
  esm: Promise<Run>
  cjs: Promise<Run>
  clientEsm: Promise<Run>
  clientCjs: Promise<Run>
  typescriptEsm: Promise<{ compile: Run, start?: Run }>
  typescriptCjs: Promise<{ compile: Run, start?: Run }>
}
let runs: Consumers | undefined

/** The consumers started by `before`. */
function consumers (): Consumers {
  if (runs === undefined) throw new Error('the package was not packed and installed')
  return runs
}

async function compileAndStart (project: string): Promise<{ compile: Run, start?: Run }> {
  const compile = await run(process.execPath, [tsc, '-p', project, '--listFiles'], project, 300_000)
  if (compile.code !== 0) return { compile }
  const start = await run(process.execPath, [path.join(project, 'out', 'consumer.js')], project, 60_000)
  return { compile, start }
}

t.before(async () => {
  tmp = await mkdtemp(path.join(fixtures, '.tmp-'))
  installed = path.join(tmp, 'node_modules', 'fastify-typed-sse')
  packedFiles = await packInto(tmp, installed)

  await cp(path.join(fixtures, 'js'), path.join(tmp, 'js'), { recursive: true })
  await cp(path.join(fixtures, '.typescript', 'esm'), path.join(tmp, 'ts-esm'), { recursive: true })
  await cp(path.join(fixtures, '.typescript', 'cjs'), path.join(tmp, 'ts-cjs'), { recursive: true })

  // All consumers at once: type-checking dominates, and the machine may be shared.
  runs = {
    esm: run(process.execPath, [path.join(tmp, 'js', 'esm-consumer.mjs')], path.join(tmp, 'js'), 60_000),
    cjs: run(process.execPath, [path.join(tmp, 'js', 'cjs-consumer.cjs')], path.join(tmp, 'js'), 60_000),
    clientEsm: run(process.execPath, [path.join(tmp, 'js', 'client-consumer.mjs')], path.join(tmp, 'js'), 60_000),
    clientCjs: run(process.execPath, [path.join(tmp, 'js', 'client-consumer.cjs')], path.join(tmp, 'js'), 60_000),
    typescriptEsm: compileAndStart(path.join(tmp, 'ts-esm')),
    typescriptCjs: compileAndStart(path.join(tmp, 'ts-cjs'))
  }
})

t.teardown(async () => {
  if (runs !== undefined) await Promise.all(Object.values(runs))
  if (tmp !== '') await rm(tmp, { recursive: true, force: true })
})

t.test('the tarball holds dist, the README and package.json, and no tests or sources', async (t) => {
  for (const required of ['package.json', 'README.md', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json', 'dist/esm/index.d.ts', 'dist/esm/package.json']) {
    t.ok(packedFiles.includes(required), `${required} is packed`)
  }
  t.same(packedFiles.filter((file) => !file.startsWith('dist/') && !['package.json', 'README.md'].includes(file) && !/^licen[cs]e(\.md|\.txt)?$/i.test(file)), [],
    'nothing but dist/, README.md, package.json (and a license)')
  t.same(packedFiles.filter((file) => /(^|\/)(test|tests|fixtures|bench|example|scripts)\//.test(file) || /\.(test|tst)\./.test(file)), [], 'no tests, benchmarks or fixtures')
  t.same(packedFiles.filter((file) => /\.[cm]?tsx?$/.test(file) && !/\.d\.[cm]?ts$/.test(file)), [], 'no TypeScript sources, only declarations')
  t.same((await listFiles(installed)).sort(), packedFiles, 'the extracted tarball holds what npm reported')
})

t.test('every file package.json points to is in the tarball', async (t) => {
  const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8'))
  const targets = [manifest.main, manifest.types, ...exportTargets(manifest.exports)]
  t.ok(targets.length >= 6, 'main, types and the import/require targets are declared')
  for (const target of targets) t.ok(packedFiles.includes(path.posix.normalize(target)), `${target} is packed`)
})

t.test('source maps in the tarball point only to sources it contains', async (t) => {
  const maps = packedFiles.filter((file) => file.endsWith('.map'))
  for (const map of maps) {
    const { sources, sourcesContent, sourceRoot = '' } = JSON.parse(await readFile(path.join(installed, map), 'utf8'))
    const missing = (sources as string[]).filter((source, index) =>
      typeof sourcesContent?.[index] !== 'string' &&
      !packedFiles.includes(path.posix.join(path.posix.dirname(map), sourceRoot, source)))
    t.same(missing, [], `${map} names no missing source`)
  }
})

t.test('an ESM app imports the plugin (default and named export are the same) and streams over a socket', async (t) => {
  const result = await consumers().esm
  t.equal(result.code, 0, outcome(result))
  const output = report(result)
  t.equal(output.resolved, await realpath(path.join(installed, 'dist', 'cjs', 'index.js')), 'the packed copy was loaded')
  t.equal(output.isFunction, true)
  t.equal(output.namedIsDefault, true, 'import { fastifyTypedSse } is the default export')
  t.equal(output.pluginName, 'fastify-typed-sse')
  t.equal(output.status, 200)
  t.equal(output.contentType, 'text/event-stream; charset=utf-8')
  t.same(output.events, [
    { event: 'tick', data: '{"value":1}' },
    { event: 'stream-error', data: '{"message":"Internal Server Error"}' }
  ], 'the valid event, then the failure event for the invalid one')
})

t.test('a CommonJS app requires the plugin, with .default and .fastifyTypedSse pointing to it, and streams over a socket', async (t) => {
  const result = await consumers().cjs
  t.equal(result.code, 0, outcome(result))
  const output = report(result)
  t.equal(output.resolved, await realpath(path.join(installed, 'dist', 'cjs', 'index.js')), 'the packed copy was loaded')
  t.equal(output.isFunction, true, 'require() returns the plugin itself')
  t.equal(output.defaultIsPlugin, true)
  t.equal(output.namedIsPlugin, true)
  t.equal(output.pluginName, 'fastify-typed-sse')
  t.equal(output.version, JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')).version)
  t.equal(output.status, 200)
  t.equal(output.contentType, 'text/event-stream; charset=utf-8')
  t.same(output.events, [
    { event: 'tick', data: '{"value":1}' },
    { event: 'stream-error', data: '{"message":"Internal Server Error"}' }
  ], 'the valid event, then the failure event for the invalid one')
})

for (const [key, format, kind] of [['clientEsm', 'esm', 'an ESM'], ['clientCjs', 'cjs', 'a CommonJS']] as const) {
  t.test(`${kind} program loads fastify-typed-sse/client from dist/${format} and decodes a stream`, async (t) => {
    const result = await consumers()[key]
    t.equal(result.code, 0, outcome(result))
    const output = report(result)
    t.equal(output.resolved, await realpath(path.join(installed, 'dist', format, 'lib', 'client', 'index.js')))
    t.same(output.items, [{ event: 'tick', data: { n: 1 }, id: '1' }, { event: 'note', data: '42' }], 'JSON for the object schema, text for the string one')
    t.same(output.failure, { isValidationError: true, event: 'tick' })
  })
}

t.test('the client\'s ES modules import only each other, so a browser loads them as they are', async (t) => {
  const directory = path.join(installed, 'dist', 'esm', 'lib', 'client')
  const modules = (await readdir(directory)).filter((file) => file.endsWith('.js'))
  t.ok(modules.includes('index.js'))
  for (const file of modules) {
    const code = await readFile(path.join(directory, file), 'utf8')
    const specifiers = [...code.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm)].map((match) => match[1])
    t.same(specifiers.filter((specifier) => !/^\.\/[\w-]+\.js$/.test(specifier!)), [], `${file} imports ${specifiers.join(', ') || 'nothing'}`)
    t.notMatch(code, /\brequire\(|\bmodule\.exports\b|\bBuffer\b|\bprocess\./, `${file} is ESM and uses no Node globals`)
  }
})

const typescriptProjects = [
  { name: 'ESM project (NodeNext)', key: 'typescriptEsm', own: 'esm', other: 'cjs', typebox: '@sinclair/typebox/build/esm/index.d.mts' },
  { name: 'CommonJS project (Node16)', key: 'typescriptCjs', own: 'cjs', other: 'esm', typebox: '@sinclair/typebox/build/cjs/index.d.ts' }
] as const

for (const project of typescriptProjects) {
  t.test(`a TypeScript ${project.name} type-checks against the packed ${project.own} typings and runs`, async (t) => {
    const { compile, start } = await consumers()[project.key]
    t.equal(compile.code, 0, `tsc reports no error (and each @ts-expect-error finds one)\n${diagnostics(compile)}`)
    const files = compiledFiles(compile)
    t.ok(files.some((file) => file.endsWith(`node_modules/fastify-typed-sse/dist/${project.own}/index.d.ts`)), `uses the package's ${project.own} typings`)
    t.notOk(files.some((file) => file.includes(`node_modules/fastify-typed-sse/dist/${project.other}/`)), `and none of its ${project.other} typings`)
    t.ok(files.some((file) => file.endsWith(project.typebox)), `TypeBox resolves to its ${project.own} typings`)
    if (start === undefined) return
    t.equal(start.code, 0, outcome(start))
    t.same(report(start), project.own === 'cjs'
      ? { namedIsDefault: true, decorated: true, requiredIsPlugin: true, requiredStats: 0 }
      : { namedIsDefault: true, decorated: true })
  })
}

function exportTargets (exports: unknown): string[] {
  if (typeof exports === 'string') return [exports]
  if (exports === null || typeof exports !== 'object') return []
  return Object.values(exports).flatMap(exportTargets)
}

async function listFiles (root: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(path.join(root, prefix), { withFileTypes: true })
  const nested = await Promise.all(entries.map((entry) => {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    return entry.isDirectory() ? listFiles(root, relative) : [relative]
  }))
  return nested.flat()
}
