// Every code block of the README compiles: ```ts blocks as server code against the
// plugin's source, ```js blocks as browser code against the DOM's types.

import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..')
const tsc = require.resolve('typescript/bin/tsc')

function blocks (markdown: string, language: string): string[] {
  const found: string[] = []
  const fence = new RegExp('^```' + language + '\\n([\\s\\S]*?)^```$', 'gm')
  for (const match of markdown.matchAll(fence)) found.push(match[1])
  return found
}

test('every ts and js block of the README compiles', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const server = blocks(readme, 'ts')
  const browser = blocks(readme, 'js')
  t.ok(server.length >= 1, 'the README has TypeScript blocks')
  t.ok(browser.length >= 1, 'the README has browser blocks')

  const dir = join(root, 'test', '.readme-snippets')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  // Each block is a module of its own, as a reader would paste it into a file.
  server.forEach((code, i) => writeFileSync(join(dir, `server-${i + 1}.ts`), code))
  browser.forEach((code, i) => writeFileSync(join(dir, `browser-${i + 1}.js`), code + '\nexport {}\n'))
  const common = { strict: true, noEmit: true, skipLibCheck: true, target: 'ES2022', module: 'preserve', moduleResolution: 'bundler' }
  writeFileSync(join(dir, 'tsconfig.server.json'), JSON.stringify({
    compilerOptions: { ...common, lib: ['ES2023', 'ES2024.String'], types: ['node'], paths: { 'fastify-typed-sse': ['../../index.ts'], 'fastify-typed-sse/*': ['../../lib/*/index.ts'] } },
    files: server.map((_, i) => `server-${i + 1}.ts`)
  }))
  writeFileSync(join(dir, 'tsconfig.browser.json'), JSON.stringify({
    compilerOptions: { ...common, lib: ['ES2023', 'DOM', 'DOM.Iterable'], types: [], allowJs: true, checkJs: true },
    files: browser.map((_, i) => `browser-${i + 1}.js`)
  }))

  for (const project of ['tsconfig.server.json', 'tsconfig.browser.json']) {
    let output = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', join(dir, project)], { encoding: 'utf8', stdio: 'pipe' })
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err)
    }
    t.equal(output, '', `${project}: the README's blocks compile`)
  }
})

test('the README\'s nginx block is example/nginx.conf without its comments', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const [shown] = blocks(readme, 'nginx')
  t.ok(shown, 'the README shows an nginx block')
  // Compared line by line, leaving out comments and blank lines.
  const directives = (text: string): string[] => text.split('\n').filter(line => line.trim() !== '' && !line.trim().startsWith('#'))
  const shipped = readFileSync(join(root, 'example', 'nginx.conf'), 'utf8')
  t.same(directives(shown), directives(shipped))
})
