/**
 * A worker's copy of who is online on the host, kept up to date by the primary in embedded mode.
 * It answers `list users` and the `delivered`/`stored` status without asking the primary.
 */
export class PresenceReplica {
  private users = new Set<string>();
  private sorted: string[] | undefined;

  reset(users: string[]): void {
    this.users = new Set(users);
    this.sorted = undefined;
  }

  online(users: string[]): void {
    for (const user of users) this.users.add(user);
    this.sorted = undefined;
  }

  offline(users: string[]): void {
    for (const user of users) this.users.delete(user);
    this.sorted = undefined;
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  /** Online users, sorted; the sort is cached until someone comes or goes. */
  list(limit: number): string[] {
    this.sorted ??= [...this.users].sort();
    return this.sorted.slice(0, limit);
  }
}
