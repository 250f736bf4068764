/**
 * Every user's inbox, held by the primary in embedded mode: the newest messages per recipient
 * (at least `maxPerUser`, for at least `maxAgeMs`) in the order they were handed to the user's
 * sessions, and a cursor marking what was already handed to one of them, so a log in without
 * `since` gets only what it has not seen. `since` is answered by position: everything kept
 * after that message, or everything kept when the id is unknown (too old, or from before a
 * restart), which clients drop as duplicates.
 *
 * Workers deliver messages before the primary stores them, so two messages from different
 * workers can reach a session in one order and the inbox in the other. A `since` replay
 * therefore also repeats what arrived shortly before the given message (`reorderWindowMs`).
 */
import type { NewMessage } from "../protocol.js";

interface UserInbox {
  messages: NewMessage[];
  /** When each message reached the inbox (ms), for the reorder window. */
  arrivals: number[];
  /** Position of each kept message, counted from the user's first message ever. */
  positions: Map<string, number>;
  /** Position of `messages[0]`. */
  first: number;
  /** Position of the first message no session has been given yet. */
  undelivered: number;
}

export interface MemoryInboxOptions {
  maxPerUser: number;
  maxAgeMs: number;
  /** How far apart in arrival two messages can be and still reach a session out of order. */
  reorderWindowMs?: number;
}

export class MemoryInbox {
  private readonly inboxes = new Map<string, UserInbox>();

  constructor(private readonly options: MemoryInboxOptions) {}

  /** Appends to `owner`'s inbox: the recipient's, or the sender's for their own copy. */
  append(message: NewMessage, delivered: boolean, now = Date.now(), owner = message.to): void {
    let inbox = this.inboxes.get(owner);
    if (!inbox) {
      inbox = { messages: [], arrivals: [], positions: new Map(), first: 0, undelivered: 0 };
      this.inboxes.set(owner, inbox);
    }
    const position = inbox.first + inbox.messages.length;
    inbox.messages.push(message);
    inbox.arrivals.push(now);
    inbox.positions.set(message.id, position);
    if (delivered) inbox.undelivered = position + 1;
    // Trim in steps so each append stays O(1) on average.
    const excess = inbox.messages.length - this.options.maxPerUser;
    if (excess >= Math.max(1, this.options.maxPerUser / 4)) this.dropOldest(inbox, excess);
  }

  /**
   * Messages for a session that just logged in, oldest first: after `since` when given, else
   * those no session has been given. Either way they now count as handed over.
   */
  replay(user: string, since: string | undefined, now = Date.now()): NewMessage[] {
    const inbox = this.inboxes.get(user);
    if (!inbox) return [];
    this.dropExpired(inbox, now);
    const end = inbox.first + inbox.messages.length;
    const sincePosition = since === undefined ? undefined : inbox.positions.get(since);
    const after =
      since === undefined
        ? inbox.undelivered
        : sincePosition === undefined
          ? inbox.first
          : this.reorderStart(inbox, sincePosition);
    // The newest maxPerUser at most: what the inbox promises to keep, as in Redis mode.
    const start = Math.max(after, end - this.options.maxPerUser, inbox.first);
    inbox.undelivered = end;
    return inbox.messages.slice(start - inbox.first).filter((message) => message.id !== since);
  }

  /** Where a `since` replay starts: after the message, less what arrived just before it. */
  private reorderStart(inbox: UserInbox, sincePosition: number): number {
    const window = this.options.reorderWindowMs ?? 0;
    const sinceIndex = sincePosition - inbox.first;
    const cutoff = (inbox.arrivals[sinceIndex] ?? 0) - window;
    let index = sinceIndex;
    while (window > 0 && index > 0 && (inbox.arrivals[index - 1] ?? 0) >= cutoff) index--;
    return index === sinceIndex ? sincePosition + 1 : inbox.first + index;
  }

  /** Forgets inboxes whose newest message has expired (run now and then). */
  sweep(now = Date.now()): void {
    for (const [user, inbox] of this.inboxes) {
      this.dropExpired(inbox, now);
      if (inbox.messages.length === 0) this.inboxes.delete(user);
    }
  }

  private dropExpired(inbox: UserInbox, now: number): void {
    const cutoff = now - this.options.maxAgeMs;
    let expired = 0;
    while (expired < inbox.messages.length && (inbox.messages[expired]?.sentAt ?? 0) < cutoff) {
      expired++;
    }
    if (expired > 0) this.dropOldest(inbox, expired);
  }

  private dropOldest(inbox: UserInbox, count: number): void {
    for (const message of inbox.messages.splice(0, count)) inbox.positions.delete(message.id);
    inbox.arrivals.splice(0, count);
    inbox.first += count;
  }
}
