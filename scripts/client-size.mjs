// The client's size as a page ships it: bundled with esbuild (minified, for
// browsers, ESM), then gzipped. First the whole client without a validator (what a
// page with `validate: false` or Standard Schema loads), and eventStream alone with
// its errors (what a page that imports only it ships), each against its goal; then with TypeBox's checkers
// (`validate: Value.Check`), for comparison. `npm run size`; `--json` prints JSON.
import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Goals for the gzipped size without a validator (README, "The typed client"). */
const GOALS = { 'client, no validator': 3072, 'eventStream alone, no validator': 2600 }

const variants = {
  'client, no validator': "export * from './lib/client/index.ts'",
  'eventStream alone, no validator': "export { eventStream } from './lib/client/index.ts'",
  'client + @sinclair/typebox/value (TypeBox 0.34)': "export * from './lib/client/index.ts'\nexport { Value } from '@sinclair/typebox/value'",
  'client + typebox/value (typebox 1.x)': "export * from './lib/client/index.ts'\nexport { Value } from 'typebox/value'"
}

/** Bytes of the minified bundle of `contents`, raw and gzipped. */
async function measure (contents) {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'size-entry.ts' },
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent'
  })
  const code = result.outputFiles[0].contents
  return { minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength }
}

const sizes = {}
for (const [name, contents] of Object.entries(variants)) sizes[name] = await measure(contents)

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(sizes))
} else {
  for (const [name, { minified, gzipped }] of Object.entries(sizes)) {
    const goal = GOALS[name] === undefined ? '' : ` (goal ${GOALS[name]}: ${gzipped <= GOALS[name] ? 'met' : `${gzipped - GOALS[name]} over`})`
    console.log(`${name}: ${minified} bytes minified, ${gzipped} bytes gzipped${goal}`)
  }
}
