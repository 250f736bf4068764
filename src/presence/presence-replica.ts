/**
 * A worker's copy of who is online on which worker of the host, kept up to date by the primary
 * in embedded mode. It answers `list users`, the delivery status, and where to send a message,
 * without asking the primary.
 */
export class PresenceReplica {
  private holders = new Map<string, Set<number>>();
  private sorted: string[] | undefined;

  reset(entries: [string, number[]][]): void {
    this.holders = new Map(entries.map(([user, workers]) => [user, new Set(workers)]));
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
      workers.add(worker);
      return;
    }
    this.holders.set(user, new Set([worker]));
    this.sorted = undefined;
  }

  left(user: string, worker: number): void {
    const workers = this.holders.get(user);
    if (!workers?.delete(worker) || workers.size > 0) return;
    this.holders.delete(user);
    this.sorted = undefined;
  }

  /** The workers holding a session of `user`, if any. */
  holdersOf(user: string): ReadonlySet<number> | undefined {
    return this.holders.get(user);
  }

  /** Online users, sorted; the sort is cached until someone comes or goes. */
  list(limit: number): string[] {
    this.sorted ??= [...this.holders.keys()].sort();
    return this.sorted.slice(0, limit);
  }
}
