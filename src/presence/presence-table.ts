/**
 * Who is online on which worker, held by the primary in embedded mode. A worker is listed for a
 * user while at least one of the user's sessions is on it; a worker that dies takes its users'
 * presence with it at once.
 */

export class PresenceTable {
  /** Each user's workers: nearly always one, so a small array (a Set costs ~150 B per user). */
  private readonly workersByUser = new Map<string, number[]>();
  private readonly usersByWorker = new Map<number, Set<string>>();
  private sorted: string[] | undefined;

  /** Returns true when the user had no session on this worker until now. */
  add(user: string, worker: number): boolean {
    let workers = this.workersByUser.get(user);
    if (workers?.includes(worker)) return false;
    if (!workers) {
      workers = [];
      this.workersByUser.set(user, workers);
      this.sorted = undefined;
    }
    workers.push(worker);
    let users = this.usersByWorker.get(worker);
    if (!users) {
      users = new Set();
      this.usersByWorker.set(worker, users);
    }
    users.add(user);
    return true;
  }

  /** Returns true when the user just went offline (their last worker). */
  remove(user: string, worker: number): boolean {
    this.usersByWorker.get(worker)?.delete(user);
    const workers = this.workersByUser.get(user);
    const index = workers?.indexOf(worker) ?? -1;
    if (!workers || index === -1) return false;
    workers.splice(index, 1);
    if (workers.length > 0) return false;
    this.workersByUser.delete(user);
    this.sorted = undefined;
    return true;
  }

  /** Drops every entry of a worker that is gone; returns the users now offline. */
  removeWorker(worker: number): string[] {
    const users = [...(this.usersByWorker.get(worker) ?? [])];
    const offline = users.filter((user) => this.remove(user, worker));
    this.usersByWorker.delete(worker);
    return offline;
  }

  usersOf(worker: number): ReadonlySet<string> | undefined {
    return this.usersByWorker.get(worker);
  }

  workersOf(user: string): readonly number[] | undefined {
    return this.workersByUser.get(user);
  }

  size(): number {
    return this.workersByUser.size;
  }

  /** Online users, sorted; the sort is cached until someone comes or goes. */
  list(limit: number): string[] {
    this.sorted ??= [...this.workersByUser.keys()].sort();
    return this.sorted.slice(0, limit);
  }
}
