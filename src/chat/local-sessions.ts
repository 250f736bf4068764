/**
 * The logged-in sessions on this worker, by username, for local delivery. A session that is
 * still receiving its log-in replay holds live messages back until the replay is out, so
 * messages reach it oldest first and without duplicates.
 */

import type { NewMessage } from "../protocol.js";

export interface Session {
  emitMessage(message: NewMessage): void;
}

interface Entry {
  /** Live messages held while the replay is pending; undefined once the session is live. */
  held: NewMessage[] | undefined;
}

export class LocalSessions<S extends Session> {
  private readonly byUser = new Map<string, Map<S, Entry>>();

  /** Adds a session that will get a replay first; returns true if it is the user's first here. */
  add(user: string, session: S): boolean {
    let sessions = this.byUser.get(user);
    const first = !sessions;
    if (!sessions) {
      sessions = new Map();
      this.byUser.set(user, sessions);
    }
    sessions.set(session, { held: [] });
    return first;
  }

  /** Removes a session; returns true if the user has no other session here. */
  remove(user: string, session: S): boolean {
    const sessions = this.byUser.get(user);
    if (!sessions) return false;
    sessions.delete(session);
    if (sessions.size > 0) return false;
    this.byUser.delete(user);
    return true;
  }

  /** Sends the replay, then whatever arrived meanwhile that the replay did not already hold. */
  finishReplay(user: string, session: S, replayed: NewMessage[]): void {
    const entry = this.byUser.get(user)?.get(session);
    for (const message of replayed) session.emitMessage(message);
    if (!entry?.held) return;
    const held = entry.held;
    entry.held = undefined;
    const seen = new Set(replayed.map((message) => message.id));
    for (const message of held) if (!seen.has(message.id)) session.emitMessage(message);
  }

  /** Hands a message to every session of its recipient here; returns how many got it. */
  deliver(message: NewMessage): number {
    const sessions = this.byUser.get(message.to);
    if (!sessions) return 0;
    for (const [session, entry] of sessions) {
      if (entry.held) entry.held.push(message);
      else session.emitMessage(message);
    }
    return sessions.size;
  }

  userCount(): number {
    return this.byUser.size;
  }
}
