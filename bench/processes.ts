// Child processes of the runner: contender servers and the load client, each
// driven by request/reply messages over IPC, each request with a time limit.

import { fork, type ChildProcess } from 'node:child_process'
import type { Ready, Reply, Request } from './protocol.js'

export class Child {
  readonly ready: Promise<number>
  private readonly process: ChildProcess
  private readonly pending = new Map<number, { resolve: (value: unknown) => void, reject: (err: Error) => void }>()
  private nextId = 1
  private exited: Error | undefined

  constructor (readonly name: string, file: string, options: { execArgv?: string[], env?: NodeJS.ProcessEnv, cwd: string }) {
    this.process = fork(file, [], {
      cwd: options.cwd,
      // tsx only compiles the TypeScript when the process loads it; nothing of it runs while measuring.
      execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: Ready | Reply): void => {
        if ('ready' in message) {
          resolve(message.port)
          return
        }
        const waiter = this.pending.get(message.id)
        if (waiter === undefined) return
        this.pending.delete(message.id)
        if (message.ok) waiter.resolve(message.result)
        else waiter.reject(new Error(message.error))
      }
      this.process.on('message', onMessage)
      this.process.once('exit', (code, signal) => {
        this.exited = new Error(`${name} exited (${signal ?? code})`)
        reject(this.exited)
        for (const waiter of this.pending.values()) waiter.reject(this.exited)
        this.pending.clear()
      })
    })
    this.ready.catch(() => {})
  }

  get alive (): boolean {
    return this.exited === undefined
  }

  request<T> (command: string, args?: unknown, timeoutMs = 30_000): Promise<T> {
    if (this.exited !== undefined) return Promise.reject(this.exited)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: no answer to ${command} after ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: value => { clearTimeout(timer); resolve(value as T) },
        reject: err => { clearTimeout(timer); reject(err) }
      })
      this.process.send({ id, command, args } satisfies Request)
    })
  }

  /** Asks this child to exit, kills it (only this one, by its own handle) if it does not, and waits until it has exited. */
  async stop (): Promise<void> {
    if (this.exited !== undefined) return
    const exited = new Promise(resolve => this.process.once('exit', resolve))
    this.request('exit', undefined, 1000).catch(() => {})
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  kill (): void {
    if (this.exited === undefined) this.process.kill('SIGKILL')
  }
}
