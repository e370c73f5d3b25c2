// The plugin as its users run it: compiled by the TypeScript compiler to CommonJS
// (like `npm run build`), not by tsx. tsx's on-the-fly output reaches every exported
// binding through a getter and turns on source-mapped stack traces, which would cost
// the plugin CPU that the peers, loaded as plain JavaScript, do not pay.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import ts from 'typescript'
import { ROOT } from './config.js'

/** The plugin's sources: the entry, its types, and lib/ with its subpath entries (lib/hub, lib/redis, ...). */
function sources (): string[] {
  const lib = readdirSync(join(ROOT, 'lib'), { recursive: true, encoding: 'utf8' })
    .filter(name => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map(name => join(ROOT, 'lib', name))
  return [join(ROOT, 'index.ts'), join(ROOT, 'types', 'index.ts'), ...lib]
}

/** Compiles the plugin into a fresh temporary directory; returns the path of its entry. */
export function buildPlugin (): string {
  const out = mkdtempSync(join(tmpdir(), 'bench-plugin-'))
  for (const file of sources()) {
    const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, verbatimModuleSyntax: false }
    })
    if (diagnostics !== undefined && diagnostics.length > 0) {
      throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(diagnostics[0]?.messageText ?? '', '\n')}`)
    }
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js')
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, outputText)
  }
  return join(out, 'index.js')
}
