/**
 * A worker's copy of who is online on which worker of the host, kept up to date by the primary
 * in embedded mode. It answers `list users`, the delivery status, and where to send a message,
 * without asking the primary.
 */
export class PresenceReplica {
  /** Each user's workers: nearly always one, so a small array (a Set costs ~150 B per user). */
  private holders = new Map<string, number[]>();
  private sorted: string[] | undefined;

  reset(entries: [string, number[]][]): void {
    this.holders = new Map(entries);
    this.sorted = undefined;
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
  }

  left(user: string, worker: number): void {
    const workers = this.holders.get(user);
    const index = workers?.indexOf(worker) ?? -1;
    if (!workers || index === -1) return;
    workers.splice(index, 1);
    if (workers.length > 0) return;
    this.holders.delete(user);
    this.sorted = undefined;
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
