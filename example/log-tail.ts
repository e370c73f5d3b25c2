// `tail -f` as an async generator: yields each complete line of a file with its
// line number, then waits for more. A line counts once its newline is written,
// so a writer that appends half a line at a time never produces half an event.

import { watch, type FSWatcher } from 'node:fs'
import { open } from 'node:fs/promises'
import { StringDecoder } from 'node:string_decoder'

export interface LogLine {
  /** 1-based, so it can serve as the event id a client resumes after. */
  lineNo: number
  text: string
}

export interface FollowOptions {
  /** Resume: yield only the lines after this line number. */
  after: number | undefined
  /** Without `after`: how many of the lines already written to yield first. */
  backlog: number
  /** Ends the generator, also while it waits for the file to grow. */
  signal: AbortSignal
  /** Look at the file at least this often, in case a change notification is missed. */
  pollMs?: number
}

const CHUNK_SIZE = 64 * 1024

export async function * followLines (file: string, { after, backlog, signal, pollMs = 1000 }: FollowOptions): AsyncGenerator<LogLine> {
  const handle = await open(file, 'r')
  let changed = false
  let wakeUp: (() => void) | undefined
  const onChange = (): void => {
    changed = true
    wakeUp?.()
  }
  let watcher: FSWatcher | undefined
  try {
    watcher = watch(file, { persistent: false }, onChange)
    watcher.on('error', () => watcher?.close()) // the poll still sees the file
  } catch {
    watcher = undefined // some file systems cannot watch; polling alone still works
  }
  signal.addEventListener('abort', onChange)

  const buffer = Buffer.alloc(CHUNK_SIZE)
  const decoder = new StringDecoder('utf8')
  let position = 0
  let lineNo = 0
  let partial = ''
  let skipThrough = after
  try {
    while (!signal.aborted) {
      changed = false
      const lines: string[] = []
      while (true) {
        const { bytesRead } = await handle.read(buffer, 0, CHUNK_SIZE, position)
        if (bytesRead === 0) break
        position += bytesRead
        const parts = (partial + decoder.write(buffer.subarray(0, bytesRead))).split('\n')
        partial = parts.pop() as string
        lines.push(...parts)
      }
      // The first read tells how long the file is, and so where the backlog starts.
      skipThrough ??= Math.max(0, lines.length - backlog)
      for (const line of lines) {
        lineNo++
        if (lineNo > skipThrough) yield { lineNo, text: line.endsWith('\r') ? line.slice(0, -1) : line }
        if (signal.aborted) return
      }
      if (changed) continue
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, pollMs)
        wakeUp = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wakeUp = undefined
    }
  } finally {
    signal.removeEventListener('abort', onChange)
    watcher?.close()
    await handle.close()
  }
}
