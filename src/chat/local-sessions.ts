/**
 * The logged-in sessions on this worker, by username, for local delivery. A session that is
 * still receiving its log-in replay holds live messages back until the replay is out, so
 * messages reach it oldest first and without duplicates.
 */

import type { NewMessage } from "../protocol.js";

export class LocalSessions<S> {
  /** A user's sessions here: nearly always one, so a small array (a Map or Set costs ~150 B). */
  private readonly byUser = new Map<string, S[]>();
  /** Live messages held back from sessions whose replay is still pending. */
  private readonly held = new Map<S, NewMessage[]>();

  constructor(
    private readonly emit: (session: S, message: NewMessage) => void,
    /** A session's id, to leave out the session that sent a message from its copies. */
    private readonly idOf: (session: S) => string,
  ) {}

  /** Adds a session that will get a replay first; returns true if it is the user's first here. */
  add(user: string, session: S): boolean {
    this.held.set(session, []);
    const sessions = this.byUser.get(user);
    if (!sessions) {
      this.byUser.set(user, [session]);
      return true;
    }
    if (!sessions.includes(session)) sessions.push(session);
    return false;
  }

  /** Removes a session; returns true if the user has no other session here. */
  remove(user: string, session: S): boolean {
    this.held.delete(session);
    const sessions = this.byUser.get(user);
    if (!sessions) return false;
    const index = sessions.indexOf(session);
    if (index !== -1) sessions.splice(index, 1);
    if (sessions.length > 0) return false;
    this.byUser.delete(user);
    return true;
  }

  /** Sends the replay, then whatever arrived meanwhile that the replay did not already hold. */
  finishReplay(session: S, replayed: NewMessage[]): void {
    for (const message of replayed) this.emit(session, message);
    const held = this.held.get(session);
    if (!held) return;
    this.held.delete(session);
    const seen = new Set(replayed.map((message) => message.id));
    for (const message of held) if (!seen.has(message.id)) this.emit(session, message);
  }

  /**
   * Hands a message to every session of `user` here (its recipient, or its sender for the copy
   * of a sent message) but `exceptSession`; returns how many got it.
   */
  deliver(user: string, message: NewMessage, exceptSession?: string): number {
    const sessions = this.byUser.get(user);
    if (!sessions) return 0;
    let count = 0;
    for (const session of sessions) {
      if (exceptSession !== undefined && this.idOf(session) === exceptSession) continue;
      const held = this.held.get(session);
      if (held) held.push(message);
      else this.emit(session, message);
      count++;
    }
    return count;
  }

  /** The sessions of `user` here. */
  sessionsOf(user: string): readonly S[] | undefined {
    return this.byUser.get(user);
  }

  /** How many sessions `user` has here. */
  count(user: string): number {
    return this.byUser.get(user)?.length ?? 0;
  }

  userCount(): number {
    return this.byUser.size;
  }
}
