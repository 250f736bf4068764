/**
 * Every user's inbox, held by the primary in embedded mode: the newest messages per recipient
 * (at least `maxPerUser`, for at least `maxAgeMs`), and a cursor marking what was already handed
 * to one of the user's sessions, so a log in without `since` gets only what it has not seen.
 */
import type { NewMessage } from "../protocol.js";
import { compareMessageIds, type MessageIdParts, parseMessageId } from "./message-id.js";

interface UserInbox {
  messages: NewMessage[];
  /** Index in `messages` of the first message no session has been given yet. */
  undelivered: number;
}

export interface MemoryInboxOptions {
  maxPerUser: number;
  maxAgeMs: number;
}

export class MemoryInbox {
  private readonly inboxes = new Map<string, UserInbox>();

  constructor(private readonly options: MemoryInboxOptions) {}

  append(message: NewMessage, delivered: boolean): void {
    let inbox = this.inboxes.get(message.to);
    if (!inbox) {
      inbox = { messages: [], undelivered: 0 };
      this.inboxes.set(message.to, inbox);
    }
    inbox.messages.push(message);
    if (delivered) inbox.undelivered = inbox.messages.length;
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
    const sinceId = since === undefined ? undefined : parseMessageId(since);
    const after = sinceId ? this.firstAfter(inbox.messages, sinceId) : inbox.undelivered;
    // The newest maxPerUser at most: what the inbox promises to keep, as in Redis mode.
    const start = Math.max(after, inbox.messages.length - this.options.maxPerUser);
    const result = inbox.messages.slice(start);
    inbox.undelivered = inbox.messages.length;
    return result;
  }

  /** Forgets inboxes whose newest message has expired (run now and then). */
  sweep(now = Date.now()): void {
    for (const [user, inbox] of this.inboxes) {
      this.dropExpired(inbox, now);
      if (inbox.messages.length === 0) this.inboxes.delete(user);
    }
  }

  private firstAfter(messages: NewMessage[], since: MessageIdParts): number {
    let low = 0;
    let high = messages.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const id = parseMessageId(messages[mid]?.id) ?? { ms: 0, seq: 0 };
      if (compareMessageIds(id, since) <= 0) low = mid + 1;
      else high = mid;
    }
    return low;
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
    inbox.messages.splice(0, count);
    inbox.undelivered = Math.max(0, inbox.undelivered - count);
  }
}
