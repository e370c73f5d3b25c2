// Summarizes a V8 CPU profile (node --cpu-prof, or `npm run bench -- --profile ID`):
// the functions with the most self time, and self time per source file.
//   node --import tsx bench/profile-top.ts FILE.cpuprofile [how-many]

import { readFileSync } from 'node:fs'
import { sourcePath } from './source-path.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function main (): void {
  const [file, howMany = '30'] = process.argv.slice(2)
  if (file === undefined) throw new Error('usage: profile-top.ts FILE.cpuprofile [how-many]')
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const nodes = new Map(profile.nodes.map(node => [node.id, node]))
  const selfMicros = new Map<number, number>()
  // A sample stands for the time until the next one (as DevTools counts it).
  profile.samples.forEach((id, index) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index + 1] ?? 0))
  })
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let total = 0
  for (const [id, micros] of selfMicros) {
    const frame = (nodes.get(id) as ProfileNode).callFrame
    const file = sourcePath(frame.url)
    const name = `${frame.functionName || '(anonymous)'}  ${file}${frame.url === '' ? '' : ':' + String(frame.lineNumber + 1)}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
    byFile.set(file, (byFile.get(file) ?? 0) + micros)
    total += micros
  }
  const print = (title: string, entries: Map<string, number>, limit: number): void => {
    console.log(`\n${title}`)
    for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
      console.log(`${(micros / 1000).toFixed(1).padStart(9)} ms ${(100 * micros / total).toFixed(1).padStart(5)}%  ${name}`)
    }
  }
  console.log(`total sampled: ${(total / 1000).toFixed(0)} ms`)
  print('self time by function', byFunction, Number(howMany))
  print('self time by file', byFile, 20)
}

main()
