/**
 * Inboxes in Redis: one stream per user, `<p>:inbox:{user}`, whose entry ids are the message
 * ids (`<ms>-<seq>`, ordered per recipient by Redis). A message the user received holds its
 * sender (`f`), the text (`m`) and the acceptance time (`s`); the copy of one the user sent
 * holds its recipient (`t`) instead of `f`, and the message id in `i` when it could not take
 * that id as its entry id (see redis/scripts.ts). A stream keeps about the newest 1000 entries
 * (`MAXLEN ~`, which trims whole nodes, so never fewer) and expires 7 days (up to 1 hour more,
 * see inbox-renewals.ts) after its newest write. Beside it, `<p>:cursor:{user}` holds the id of
 * the newest entry handed to a session of the user (live or replayed): the received entries
 * after it are those stored while they were offline (copies of sent messages after it are not
 * replayed by a log in; a session of the user sent them). Sends do not write it: it is brought
 * up to date (settled, redis/scripts.ts) when the user's last session leaves and when a session
 * logs in while others are online, from the inbox and the missed mark `<p>:missed:{user}`. Data
 * written by earlier versions, whose copies moved the sender's cursor, reads the same.
 *
 * This file reads inboxes; writing happens in the send script (routing), which must also read
 * presence in the same atomic step.
 */
import type { NewMessage } from "../protocol.js";
import { defineScript, type RedisClient, type ScriptCall } from "../redis/connection.js";
import type { RedisKeys } from "../redis/keys.js";
import { DRAIN_SCRIPT } from "../redis/scripts.js";
import { keepMs } from "./inbox-renewals.js";

export interface InboxLimits {
  /** Entries an inbox keeps at least (MAXLEN ~). */
  maxLength: number;
  /** Milliseconds an inbox and its cursor live after the newest write. */
  ttlMs: number;
  /** Most messages one replay returns. */
  replayLimit: number;
}

export const INBOX_LIMITS: Readonly<InboxLimits> = Object.freeze({
  maxLength: 1000,
  ttlMs: 7 * 24 * 60 * 60 * 1000,
  replayLimit: 1000,
});

/** A stream entry as ioredis returns it: `[id, [field, value, field, value, …]]`. */
type StreamEntry = [string, string[]];

/** Turns XRANGE entries of `user`'s inbox into messages, skipping any that are malformed. */
export function decodeEntries(user: string, reply: unknown): NewMessage[] {
  if (!Array.isArray(reply)) return [];
  const messages: NewMessage[] = [];
  for (const entry of reply as StreamEntry[]) {
    const [id, fields] = entry;
    if (typeof id !== "string" || !Array.isArray(fields)) continue;
    let from: string | undefined;
    let to: string | undefined;
    let text: string | undefined;
    let messageId: string | undefined;
    let sentAt = Number.NaN;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const value = fields[i + 1];
      if (fields[i] === "f") from = value;
      else if (fields[i] === "t") to = value;
      else if (fields[i] === "m") text = value;
      else if (fields[i] === "s") sentAt = Number(value);
      else if (fields[i] === "i") messageId = value;
    }
    // A received message names its sender; a sent one (the sender's copy) its recipient.
    if ((from === undefined) === (to === undefined) || text === undefined) continue;
    messages.push({
      id: messageId ?? id,
      from: from ?? user,
      to: to ?? user,
      message: text,
      sentAt: Number.isFinite(sentAt) ? sentAt : 0,
    });
  }
  return messages;
}

export class RedisInbox {
  private readonly drainScript: ScriptCall;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
    private readonly limits: InboxLimits = INBOX_LIMITS,
  ) {
    this.drainScript = defineScript(client, "chatInboxDrain", 4, DRAIN_SCRIPT);
  }

  /** Every kept message after `since`, oldest first (at most the replay limit). */
  async since(user: string, since: string): Promise<NewMessage[]> {
    const reply = await this.client.xrange(
      this.keys.inbox(user),
      `(${since}`,
      "+",
      "COUNT",
      this.limits.replayLimit,
    );
    return decodeEntries(user, reply);
  }

  /** The messages no session of `user` has been handed yet (the newest of them, up to the
   * replay limit), oldest first; moves the cursor past them. */
  async drain(user: string): Promise<NewMessage[]> {
    const reply = await this.drainScript(
      [
        this.keys.inbox(user),
        this.keys.cursor(user),
        this.keys.presence(user),
        this.keys.missed(user),
      ],
      [this.limits.replayLimit, keepMs(this.limits)],
    );
    return decodeEntries(user, reply);
  }
}
