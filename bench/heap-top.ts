// Summarizes a V8 sampling heap profile (BENCH_HEAP_PROFILE_DIR=dir npm run bench ...):
// the bytes allocated in the measured window by allocating function and by source
// file, garbage included, and per delivery when given the deliveries.
//   node --import tsx bench/heap-top.ts FILE.heapprofile [deliveries] [how-many]

import { readFileSync } from 'node:fs'
import { sourcePath } from './source-path.js'

interface HeapNode {
  callFrame: { functionName: string, url: string, lineNumber: number }
  selfSize: number
  children: HeapNode[]
}

function main (): void {
  const [file, deliveries, howMany = '25'] = process.argv.slice(2)
  if (file === undefined) throw new Error('usage: heap-top.ts FILE.heapprofile [deliveries] [how-many]')
  const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode }
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let total = 0
  const visit = (node: HeapNode): void => {
    const frame = node.callFrame
    const path = sourcePath(frame.url)
    const name = `${frame.functionName || '(anonymous)'}  ${path}${frame.url === '' ? '' : ':' + String(frame.lineNumber + 1)}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize)
    byFile.set(path, (byFile.get(path) ?? 0) + node.selfSize)
    total += node.selfSize
    for (const child of node.children) visit(child)
  }
  visit(head)
  const perDelivery = deliveries === undefined ? undefined : Number(deliveries)
  const print = (title: string, entries: Map<string, number>, limit: number): void => {
    console.log(`\n${title}`)
    for (const [name, bytes] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
      const each = perDelivery === undefined ? '' : `${(bytes / perDelivery).toFixed(1).padStart(8)} B/delivery`
      console.log(`${(bytes / 1024).toFixed(0).padStart(9)} KiB ${(100 * bytes / total).toFixed(1).padStart(5)}% ${each}  ${name}`)
    }
  }
  console.log(`total allocated (sampled): ${(total / 1024 / 1024).toFixed(1)} MiB` +
    (perDelivery === undefined ? '' : `, ${(total / perDelivery).toFixed(1)} bytes per delivery`))
  print('allocated by function', byFunction, Number(howMany))
  print('allocated by file', byFile, 15)
}

main()
