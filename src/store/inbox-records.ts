/**
 * Inboxes in the embedded database. Every function here runs inside a write transaction (or, for
 * reads, on a fresh snapshot), so what it reads and writes is one atomic step across every
 * process of the host.
 *
 * A message id is `<ms>-<seq>`, handed out from one host-wide counter inside the transaction
 * that stores the message: ids are unique, and their order is commit order. One message is kept
 * under the same id in the recipient's inbox and in the sender's (what a user sent and received,
 * in one order). Each inbox also records its newest id (`tip`: a live hand-off carries the
 * previous tip, so a receiver sees a gap and reads it from here) and a cursor: the id up to which
 * a session of the user was handed messages, for a log in without `since`.
 *
 * Layout (format 2): one table holds every inbox, keyed [user, ms, seq], and each user's record
 * under [user, RECORD], which sorts after all of that user's messages. A send therefore writes
 * the record into the page it appends the message to: with many users, each inbox costs one
 * dirty page per commit instead of two (one in the inbox, one in a separate table of records).
 */
import { parseMessageId } from "../inbox/message-id.js";
import type { NewMessage } from "../protocol.js";
import type {
  ChatStore,
  MessageKey,
  PackedRecord,
  RecordKey,
  StoredMessage,
  UserRecord,
} from "./chat-store.js";

export interface InboxLimits {
  /** Messages kept per user (both directions); the oldest go first. */
  maxPerUser: number;
  /** How long a message is kept, ms. */
  maxAgeMs: number;
}

export const INBOX_LIMITS: Readonly<InboxLimits> = Object.freeze({
  maxPerUser: 1000,
  maxAgeMs: 7 * 24 * 3600 * 1000,
});

/** Trimming waits for this many extra messages, so a busy inbox is not trimmed on every write. */
const TRIM_SLACK = 64;
/** Second part of a record's key: past every message id, so the record sits after the messages. */
export const RECORD = Number.MAX_SAFE_INTEGER;

export type Id = [number, number];

/** About what one kept message costs on disk: its strings and a fixed overhead (key, record). */
export function storedBytes(value: StoredMessage): number {
  return (
    value[0].length + value[1].length + Buffer.byteLength(value[2]) + (value[4]?.length ?? 0) + 48
  );
}

/**
 * The host's tally, one meta key read and written once per batch: the last id handed out, and
 * over every kept message their `storedBytes` and their number (records share the inbox table,
 * so its entry count is not it).
 */
type PackedTally = [number, number, number, number];
interface Tally {
  last: Id;
  bytes: number;
  messages: number;
}

function readTally(store: ChatStore): Tally {
  const packed = store.meta.get("tally") as PackedTally | undefined;
  if (!packed) return { last: [0, 0], bytes: 0, messages: 0 };
  return { last: [packed[0], packed[1]], bytes: packed[2], messages: packed[3] };
}

export function writeTally(store: ChatStore, tally: Tally): void {
  const { last, bytes, messages } = tally;
  store.meta.put("tally", [last[0], last[1], Math.max(0, bytes), Math.max(0, messages)]);
}

export function keptBytes(store: ChatStore): number {
  return readTally(store).bytes;
}

export function keptMessages(store: ChatStore): number {
  return readTally(store).messages;
}

function recordKey(owner: string): RecordKey {
  return [owner, RECORD];
}

/** `owner`'s record, if the user has kept messages. */
export function readRecord(store: ChatStore, owner: string): UserRecord | undefined {
  const packed = store.messages.get(recordKey(owner)) as PackedRecord | undefined;
  return packed && { tip: packed[0], cursor: packed[1], count: packed[2] };
}

export function writeRecord(store: ChatStore, owner: string, record: UserRecord): void {
  store.messages.put(recordKey(owner), [record.tip, record.cursor, record.count]);
}

/** Users with kept messages after `after` (or from the first), in name order, at most `limit`. */
export function usersWithInboxes(store: ChatStore, after: string | undefined, limit: number) {
  const users: string[] = [];
  let start: MessageKey | RecordKey | undefined =
    after === undefined ? undefined : recordKey(after);
  while (users.length < limit) {
    const [key] = [
      ...store.messages.getKeys(
        start === undefined ? { limit: 1 } : { start, exclusiveStart: true, limit: 1 },
      ),
    ];
    if (!key) break;
    users.push(key[0]);
    // Past this user's messages and record in one seek.
    start = recordKey(key[0]);
  }
  return users;
}

export function idText(id: Id): string {
  return `${id[0]}-${id[1]}`;
}

export function compareIds(a: Id | null, b: Id | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  return a[0] - b[0] || a[1] - b[1];
}

export function parseId(text: string | null | undefined): Id | null {
  const parts = text == null ? undefined : parseMessageId(text);
  return parts ? [parts.ms, parts.seq] : null;
}

function toMessage(key: MessageKey, value: StoredMessage): NewMessage {
  return {
    id: `${key[1]}-${key[2]}`,
    from: value[0],
    to: value[1],
    message: value[2],
    sentAt: value[3],
  };
}

/** One batch's view of the records it touches: each read once, each written back once. */
export class InboxWriter {
  private readonly users = new Map<string, UserRecord>();
  private readonly tally: Tally;

  constructor(
    private readonly store: ChatStore,
    private readonly limits: InboxLimits,
  ) {
    this.tally = readTally(store);
  }

  /** Bytes kept, with this batch's messages. */
  get bytes(): number {
    return this.tally.bytes;
  }

  /** The next id: the clock's millisecond, or the last one's if the clock went back. */
  nextId(now: number): Id {
    const [ms, seq] = this.tally.last;
    this.tally.last = now > ms ? [now, 0] : [ms, seq + 1];
    return this.tally.last;
  }

  user(name: string): UserRecord {
    const cached = this.users.get(name);
    if (cached) return cached;
    const record: UserRecord = readRecord(this.store, name) ?? {
      tip: null,
      cursor: null,
      count: 0,
    };
    this.users.set(name, record);
    return record;
  }

  /** Appends to `owner`'s inbox; returns the previous tip (for the hand-off). */
  append(owner: string, id: Id, value: StoredMessage, seen: boolean): Id | null {
    const record = this.user(owner);
    const previous = record.tip;
    this.store.messages.put([owner, id[0], id[1]], value);
    this.tally.bytes += storedBytes(value);
    this.tally.messages++;
    record.tip = id;
    record.count++;
    if (seen) record.cursor = id;
    if (record.count > this.limits.maxPerUser + TRIM_SLACK) this.trim(owner, record);
    return previous;
  }

  /** Writes back every record touched and the tally (id counter, kept bytes and messages). */
  finish(): void {
    for (const [name, record] of this.users) writeRecord(this.store, name, record);
    writeTally(this.store, this.tally);
  }

  private trim(owner: string, record: UserRecord): void {
    const excess = record.count - this.limits.maxPerUser;
    const entries = [...this.store.messages.getRange({ ...range(owner, null), limit: excess })];
    for (const { key, value } of entries) {
      this.store.messages.remove(key);
      this.tally.bytes -= storedBytes(value as StoredMessage);
    }
    this.tally.messages -= entries.length;
    record.count -= entries.length;
  }
}

/** `owner`'s message keys strictly after `after` (or from the first), the record left out. */
function range(
  owner: string,
  after: Id | null,
): { start: MessageKey; end: RecordKey; exclusiveStart: boolean } {
  return {
    start: after ? [owner, after[0], after[1]] : [owner, -1, -1],
    end: recordKey(owner),
    exclusiveStart: after !== null,
  };
}

/** Kept messages of `owner` after `after`, oldest first; at most the newest `limit`. */
export function readAfter(
  store: ChatStore,
  owner: string,
  after: Id | null,
  limit: number,
): { message: NewMessage; session: string | undefined }[] {
  // Newest first, from just before the record; `end` is exclusive, so `after` is left out.
  const newestFirst = store.messages.getRange({
    start: recordKey(owner),
    exclusiveStart: true,
    end: after ? [owner, after[0], after[1]] : [owner, -1, -1],
    reverse: true,
    limit,
  });
  const out: { message: NewMessage; session: string | undefined }[] = [];
  for (const { key, value } of newestFirst) {
    const message = value as StoredMessage;
    out.push({ message: toMessage(key as MessageKey, message), session: message[4] });
  }
  return out.reverse();
}

/**
 * Removes the messages of `owners` older than `cutoff` (epoch ms) in this transaction, updating
 * the tally once for all of them; returns how many. Ids start with the millisecond they were
 * stored in, so expired ones come first.
 */
export function dropExpired(store: ChatStore, owners: string[], cutoff: number): number {
  let messages = 0;
  let bytes = 0;
  for (const owner of owners) {
    const record = readRecord(store, owner);
    if (!record) continue;
    const entries = [
      ...store.messages.getRange({ start: [owner, -1, -1], end: [owner, cutoff, -1] }),
    ];
    for (const { key, value } of entries) {
      store.messages.remove(key);
      bytes += storedBytes(value as StoredMessage);
    }
    messages += entries.length;
    record.count -= entries.length;
    if (record.count <= 0) store.messages.remove(recordKey(owner));
    else if (entries.length > 0) writeRecord(store, owner, record);
  }
  if (messages > 0) {
    const tally = readTally(store);
    writeTally(store, {
      last: tally.last,
      bytes: tally.bytes - bytes,
      messages: tally.messages - messages,
    });
  }
  return messages;
}
