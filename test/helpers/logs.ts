// A logger that keeps its error lines, to check what request.log received.

export interface LogEntry {
  level: number
  msg: string
  reqId?: string
  event?: unknown
  errors?: Array<{ path: string, message: string }>
  err?: { code?: string, message?: string }
}

export function captureLogs (): { entries: LogEntry[], logger: { level: string, stream: { write (line: string): void } } } {
  const entries: LogEntry[] = []
  return { entries, logger: { level: 'error', stream: { write: (line: string) => { entries.push(JSON.parse(line)) } } } }
}
