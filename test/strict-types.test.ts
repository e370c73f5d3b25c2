// The published typings in strict projects: each fixture of fixtures/package/.strict
// is a project with `strict: true` and `skipLibCheck: false` whose node_modules holds
// only the packages it is allowed (links into the repo's node_modules) and a copy of
// the packed package. Each compiles every subpath it imports with zero errors, as an
// ES module (.mts) and as CommonJS (.cts): the typings import an optional peer only
// where a project lacking it still compiles. The projects live in the OS's temp
// directory, so nothing resolves from the repo by walking up.

import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { compiledFiles, diagnostics, packInto, repoRoot, run, tsc, type Run } from './helpers/package.js'

// Packing builds with tsc, then six compiles of fastify's and the package's typings.
t.setTimeout(10 * 60_000)

const fixtures = path.join(__dirname, 'fixtures', 'package', '.strict')
/** Packages a fixture may be missing; a compile must load none of these it was not given. */
const OPTIONAL = ['fastify', 'typebox', 'zod', 'ioredis', '@types/node']
const NODE = ['fastify', '@sinclair/typebox', '@types/node']

interface Fixture {
  name: string
  /** The packages its node_modules holds besides fastify-typed-sse and its dependencies. */
  packages: string[]
  /** The subpaths it imports, each of which must be compiled from dist/esm and dist/cjs. */
  subpaths: string[]
  browser?: boolean
}

const FIXTURES: Fixture[] = [
  { name: 'typebox', packages: NODE, subpaths: ['index', 'lib/hub/index', 'lib/client/index'] },
  { name: 'typebox1', packages: [...NODE, 'typebox'], subpaths: ['index', 'lib/hub/index', 'lib/client/index'] },
  { name: 'zod', packages: [...NODE, 'zod'], subpaths: ['index', 'lib/hub/index', 'lib/client/index'] },
  { name: 'redis', packages: [...NODE, 'ioredis'], subpaths: ['index', 'lib/hub/index', 'lib/redis/index'] },
  { name: 'browser', packages: ['@sinclair/typebox'], subpaths: ['lib/client/index'], browser: true }
]

const VALIDATE_FIX = 'TypeBox and JSON schemas need validate: Value.Check (from typebox/value or @sinclair/typebox/value) or validate: false'

let tmp = ''
const started = Date.now()
/** The compiles, by fixture name and tsconfig, started once the package is packed. */
const compiles = new Map<string, Promise<Run>>()

function compileOf (key: string): Promise<Run> {
  const compile = compiles.get(key)
  if (compile === undefined) throw new Error(`${key} was not compiled: the package was not packed`)
  return compile
}

function compilerOptions (fixture: Fixture, resolution: 'NodeNext' | 'Bundler'): Record<string, unknown> {
  return {
    target: 'ES2022',
    module: resolution === 'Bundler' ? 'ESNext' : 'NodeNext',
    moduleResolution: resolution,
    lib: fixture.browser === true ? ['ES2022', 'DOM'] : ['ES2022'],
    types: fixture.browser === true ? [] : ['node'],
    strict: true,
    skipLibCheck: false,
    // TypeScript's own lib files only, for speed; every package's typings are checked.
    skipDefaultLibCheck: true,
    noEmit: true
  }
}

/** A project directory: the fixture's source as .mts and .cts, its tsconfigs, its node_modules. */
async function setUp (fixture: Fixture, installed: string, dependencies: string[]): Promise<string> {
  const project = path.join(tmp, fixture.name)
  const modules = path.join(project, 'node_modules')
  await mkdir(modules, { recursive: true })
  await cp(installed, path.join(modules, 'fastify-typed-sse'), { recursive: true })
  for (const name of new Set([...fixture.packages, ...dependencies])) {
    await mkdir(path.dirname(path.join(modules, name)), { recursive: true })
    await symlink(path.join(repoRoot, 'node_modules', name), path.join(modules, name), 'dir')
  }
  const source = await readFile(path.join(fixtures, fixture.name, 'consumer.ts'), 'utf8')
  await writeFile(path.join(project, 'esm.mts'), source)
  await writeFile(path.join(project, 'cjs.cts'), source)
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: `strict-${fixture.name}`, private: true }))
  const tsconfig = (options: Record<string, unknown>, files: string[]): string => JSON.stringify({ compilerOptions: options, files }, null, 2)
  await writeFile(path.join(project, 'tsconfig.json'), tsconfig(compilerOptions(fixture, 'NodeNext'), ['esm.mts', 'cjs.cts']))
  if (fixture.browser === true) {
    await writeFile(path.join(project, 'bundler.ts'), source)
    await cp(path.join(fixtures, fixture.name, 'missing-validate.ts'), path.join(project, 'missing-validate.ts'))
    await writeFile(path.join(project, 'tsconfig.bundler.json'), tsconfig(compilerOptions(fixture, 'Bundler'), ['bundler.ts', 'missing-validate.ts']))
  }
  return project
}

/** Runs `jobs` at most `limit` at a time; each promise settles with its job. */
function pool<T> (jobs: Array<() => Promise<T>>, limit: number): Array<Promise<T>> {
  const queue = jobs.map((job) => {
    let start!: () => void
    const turn = new Promise<void>((resolve) => { start = resolve })
    return { result: turn.then(job), start }
  })
  let next = 0
  const startNext = (): void => { queue[next++]?.start() }
  for (const entry of queue) entry.result.finally(startNext).catch(() => {})
  for (let i = 0; i < limit; i++) startNext()
  return queue.map((entry) => entry.result)
}

t.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fastify-typed-sse-strict-'))
  const installed = path.join(tmp, 'package')
  await packInto(tmp, installed)
  const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8'))
  const dependencies = Object.keys(manifest.dependencies ?? {})

  const jobs: Array<[string, () => Promise<Run>]> = []
  for (const fixture of FIXTURES) {
    const project = await setUp(fixture, installed, dependencies)
    const configs = fixture.browser === true ? ['tsconfig.json', 'tsconfig.bundler.json'] : ['tsconfig.json']
    for (const config of configs) {
      jobs.push([`${fixture.name}/${config}`, () => run(process.execPath, [tsc, '-p', config, '--listFiles'], project, 600_000)])
    }
  }
  // In parallel, but no more at once than the machine has cores: each compile is CPU-bound.
  const results = pool(jobs.map(([, job]) => job), os.availableParallelism())
  jobs.forEach(([key], i) => compiles.set(key, results[i]!))
})

t.teardown(async () => {
  await Promise.all(compiles.values())
  t.comment(`packed and compiled ${compiles.size} projects in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  if (tmp !== '') await rm(tmp, { recursive: true, force: true })
})

for (const fixture of FIXTURES) {
  t.test(`${fixture.name}: ${fixture.packages.join(', ')} and the package compile strictly, as ESM and as CommonJS`, async (t) => {
    const compile = await compileOf(`${fixture.name}/tsconfig.json`)
    t.equal(compile.code, 0, `tsc reports no error (and each @ts-expect-error finds one)\n${diagnostics(compile)}`)
    const files = compiledFiles(compile)
    const ours = files.filter((file) => file.includes('/node_modules/fastify-typed-sse/'))
    t.comment(`${fixture.name}: ${files.length} files compiled, ${ours.length} of the package`)
    for (const format of ['esm', 'cjs']) {
      for (const subpath of fixture.subpaths) {
        const typings = subpath === 'index' && format === 'cjs' ? 'entry.d.ts' : `${subpath}.d.ts`
        t.ok(files.some((file) => file.endsWith(`node_modules/fastify-typed-sse/dist/${format}/${typings}`)), `compiled dist/${format}/${typings}`)
      }
    }
    loadsOnlyAllowed(t, fixture, files)
  })
}

t.test('browser: under Bundler resolution the client compiles, and TypeBox events without validate are an error that names the fix', async (t) => {
  const compile = await compileOf('browser/tsconfig.bundler.json')
  const errors = compile.stdout.split('\n').filter((line) => / error TS\d+/.test(line))
  t.equal(errors.length, 1, `one error\n${diagnostics(compile)}`)
  t.match(errors[0], /^missing-validate\.ts\(\d+,\d+\): error TS2769/, 'at the call that leaves validate out; none in bundler.ts')
  t.ok(compile.stdout.includes(VALIDATE_FIX), `the message says what to pass\n${diagnostics(compile)}`)
  const files = compiledFiles(compile)
  t.ok(files.some((file) => file.endsWith('node_modules/fastify-typed-sse/dist/esm/lib/client/index.d.ts')), 'from the ESM typings')
  loadsOnlyAllowed(t, FIXTURES.find((fixture) => fixture.browser === true)!, files)
})

/** The compile read no typings of an optional package the fixture lacks. */
function loadsOnlyAllowed (t: Test, fixture: Fixture, files: string[]): void {
  for (const name of OPTIONAL.filter((name) => !fixture.packages.includes(name))) {
    t.notOk(files.some((file) => file.includes(`/node_modules/${name}/`)), `loads nothing of ${name}`)
  }
}
