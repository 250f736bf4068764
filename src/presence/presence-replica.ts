/**
 * A worker's copy of who is online on which worker of the host, kept up to date by the primary
 * in embedded mode. It answers `list users`, the delivery status, and where to send a message,
 * without asking the primary.
 */
export class PresenceReplica {
  /** Each user's workers: nearly always one, so a small array (a Set costs ~150 B per user). */
  private holders = new Map<string, number[]>();
  private sorted: string[] | undefined;

  /** `onChange` hears of a user's first session on the host appearing and last one leaving. */
  constructor(private readonly onChange: (user: string, online: boolean) => void = () => {}) {}

  reset(entries: [string, number[]][]): void {
    const before = this.holders;
    this.holders = new Map(entries);
    this.sorted = undefined;
    for (const user of before.keys()) if (!this.holders.has(user)) this.onChange(user, false);
    for (const user of this.holders.keys()) if (!before.has(user)) this.onChange(user, true);
  }

  apply(moves: [string, number, 0 | 1][]): void {
    for (const [user, worker, joined] of moves) {
      if (joined) this.joined(user, worker);
      else this.left(user, worker);
    }
  }

  joined(user: string, worker: number): void {
    const workers = this.holders.get(user);
    if (workers) {
      if (!workers.includes(worker)) workers.push(worker);
      return;
    }
    this.holders.set(user, [worker]);
    this.sorted = undefined;
    this.onChange(user, true);
  }

  left(user: string, worker: number): void {
    const workers = this.holders.get(user);
    const index = workers?.indexOf(worker) ?? -1;
    if (!workers || index === -1) return;
    workers.splice(index, 1);
    if (workers.length > 0) return;
    this.holders.delete(user);
    this.sorted = undefined;
    this.onChange(user, false);
  }

  /** The workers holding a session of `user`, if any. */
  holdersOf(user: string): readonly number[] | undefined {
    return this.holders.get(user);
  }

  /** Online users, sorted; the sort is cached until someone comes or goes. */
  list(limit: number): string[] {
    this.sorted ??= [...this.holders.keys()].sort();
    return this.sorted.slice(0, limit);
  }
}
