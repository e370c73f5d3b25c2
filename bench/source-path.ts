// The source file a V8 profile's frame names, relative to the repository when it
// is one of ours: shared by the CPU and the heap profile summaries.

import { join } from 'node:path'

const ROOT = join(__dirname, '..')

export function sourcePath (url: string): string {
  const path = url.replace(/^file:\/\//, '')
  if (path === '') return '(native)'
  return path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path
}
