/**
 * Who watches whom on this worker: for each watched user the connections here that watch them
 * (to hand each `presence` event to), and for each connection the names it watches (to enforce
 * the per-connection limit and to end its watches with it). The back-end is told only when the
 * first connection here starts watching a user and when the last one stops, so presence work
 * is per worker, not per connection.
 */
export type WatchOutcome =
  /** `added`: users no connection here watched before this call. */
  | { ok: true; added: string[] }
  /** The connection would watch more than `maxPerConnection`: nothing changed. */
  | { ok: false };

export class WatchBook<S> {
  private readonly watchers = new Map<string, Set<S>>();
  private readonly watching = new Map<S, Set<string>>();

  constructor(private readonly maxPerConnection: number) {}

  /** Adds `names` to what `session` watches, all or nothing. */
  add(session: S, names: readonly string[]): WatchOutcome {
    const own = this.watching.get(session);
    const fresh = own ? names.filter((name) => !own.has(name)) : names;
    if ((own?.size ?? 0) + fresh.length > this.maxPerConnection) return { ok: false };
    if (fresh.length === 0) return { ok: true, added: [] };
    let set = own;
    if (!set) {
      set = new Set();
      this.watching.set(session, set);
    }
    const added: string[] = [];
    for (const name of fresh) {
      set.add(name);
      let sessions = this.watchers.get(name);
      if (!sessions) {
        sessions = new Set();
        this.watchers.set(name, sessions);
        added.push(name);
      }
      sessions.add(session);
    }
    return { ok: true, added };
  }

  /** Removes `names` from what `session` watches; returns the users nobody here watches now. */
  remove(session: S, names: Iterable<string>): string[] {
    const own = this.watching.get(session);
    if (!own) return [];
    const gone: string[] = [];
    for (const name of names) {
      if (!own.delete(name)) continue;
      const sessions = this.watchers.get(name);
      sessions?.delete(session);
      if (sessions?.size === 0) {
        this.watchers.delete(name);
        gone.push(name);
      }
    }
    if (own.size === 0) this.watching.delete(session);
    return gone;
  }

  /** Ends every watch of `session`; returns the users nobody here watches now. */
  drop(session: S): string[] {
    const own = this.watching.get(session);
    return own ? this.remove(session, [...own]) : [];
  }

  /** The connections here watching `user`. */
  watchersOf(user: string): ReadonlySet<S> | undefined {
    return this.watchers.get(user);
  }

  /** Users watched by at least one connection here. */
  watchedUserCount(): number {
    return this.watchers.size;
  }
}
