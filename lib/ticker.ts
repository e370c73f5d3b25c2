// One timer per period, shared by every member that asked for that period,
// instead of a timer per stream. A period's timer runs only while it has members.

/**
 * Called for every member on each tick. `late` says the tick came more than a period
 * after it was due: the process itself was not running (a blocked or starved event
 * loop), so what did not happen since the last tick is no member's fault.
 */
export type Visit<Member> = (member: Member, now: number, late: boolean) => void

class Group<Member> {
  readonly members = new Set<Member>()
  private readonly timer: NodeJS.Timeout
  private last = performance.now()

  constructor (every: number, visit: Visit<Member>) {
    this.timer = setInterval(() => {
      const now = performance.now()
      const late = now - this.last > 2 * every
      this.last = now
      for (const member of this.members) visit(member, now, late)
    }, every)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }
}

export class Ticker<Member> {
  private readonly groups = new Map<number, Group<Member>>()
  private readonly visit: Visit<Member>
  private readonly tickEvery: (period: number) => number

  /** `visit` is called for every member on each tick; a period ticks every `tickEvery(period)` ms. */
  constructor (visit: Visit<Member>, tickEvery: (period: number) => number) {
    this.visit = visit
    this.tickEvery = tickEvery
  }

  /** Period 0 is off: the member is not added. */
  add (member: Member, period: number): void {
    if (period === 0) return
    let group = this.groups.get(period)
    if (group === undefined) {
      group = new Group(Math.max(1, Math.floor(this.tickEvery(period))), this.visit)
      this.groups.set(period, group)
    }
    group.members.add(member)
  }

  remove (member: Member, period: number): void {
    const group = this.groups.get(period)
    if (group === undefined || !group.members.delete(member) || group.members.size > 0) return
    group.stop()
    this.groups.delete(period)
  }

  /** Timers still running: one per period in use, none once every member is gone. */
  get timers (): number {
    return this.groups.size
  }
}
