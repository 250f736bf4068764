/**
 * The embedded mode's database: one LMDB environment under the data directory, opened by every
 * worker (and the primary, for supervision and retention). LMDB lets several processes write one
 * environment: each write transaction takes a lock shared by the processes, so message ids
 * assigned inside a transaction are in commit order across the whole host.
 *
 * Writes go through `transaction()`: the callback runs on this thread inside the next write
 * transaction, which holds every write of this process queued in the same event-loop turn (under
 * load, in the same commit window), and resolves once that transaction is committed and visible
 * to every process. By default a commit
 * survives the death of any or every process of the host (the data is in the OS's page cache);
 * it reaches the disk within milliseconds (`overlappingSync`), and `flushed()` waits for that.
 */
import { statSync } from "node:fs";
import { type Database, open, type RootDatabase } from "lmdb";
import { CommitWindow } from "./commit-window.js";
import type { PairTable } from "./presence-records.js";

/**
 * Bumped when the layout changes; a server refuses data written by a newer one, and its primary
 * upgrades data written by an older one at start (`format-upgrade.ts`). 2: user records moved
 * from their own table into the inbox table, next to each user's messages; presence one key per
 * user.
 */
export const STORE_FORMAT = 2;
export const STORE_FILE = "chat.mdb";
/** Under load, the writes of this many milliseconds share one commit (`commit-window.ts`). */
export const COMMIT_WINDOW_MS = 5;

/** [user, ms, seq] -> a stored message. */
export type MessageKey = [string, number, number];
/** [user, RECORD] -> that user's record, packed (`inbox-records.ts`). */
export type RecordKey = [string, number];
export type PackedRecord = [UserRecord["tip"], UserRecord["cursor"], number];
/** A message as stored: from, to, text, sentAt, and the sending session (sender's copy only). */
export type StoredMessage = [string, string, string, number, string?];
/** Per user: newest id in the inbox, id up to which a session was handed messages, count. */
export interface UserRecord {
  tip: [number, number] | null;
  cursor: [number, number] | null;
  count: number;
}

/** A data directory that cannot be used: the CLI prints the message alone. */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";
}

export interface ChatStoreOptions {
  /** The file of the environment (in the data directory). */
  file: string;
  /** Largest size the database may grow to, bytes (LMDB's map size). */
  maxBytes: number;
}

export class ChatStore {
  readonly root: RootDatabase;
  /** Every inbox: each kept message by [user, ms, seq], and each user's record after them. */
  readonly messages: Database<StoredMessage | PackedRecord, MessageKey | RecordKey>;
  /** Format 1's table of user records, read once by the upgrade to format 2, then empty. */
  readonly formatOneUsers: Database<UserRecord, string>;
  /** ["u", user] -> workers, and ["w", worker, user]: who is online on which worker of this host. */
  readonly presence: PairTable;
  /** Same shape as presence: which worker watches which user (presence subscriptions). */
  readonly watches: PairTable;
  /** Format version, and the tally: the last message id handed out, kept bytes and messages. */
  readonly meta: Database<unknown, string>;

  private readonly file: string;
  private readonly commits: CommitWindow;

  constructor(options: ChatStoreOptions) {
    this.file = options.file;
    try {
      this.root = open({
        path: options.file,
        noSubdir: true,
        maxDbs: 8,
        mapSize: options.maxBytes,
        // Each worker and the primary read from several threads; room for many workers.
        maxReaders: 1024,
        // Whoever reads a value decodes it; a structure table shared over processes would need
        // coordination for no gain at these sizes.
        encoding: "msgpack",
      });
      this.messages = this.root.openDB({ name: "messages" });
      this.formatOneUsers = this.root.openDB({ name: "users" });
      this.presence = this.root.openDB({ name: "presence" });
      this.watches = this.root.openDB({ name: "watches" });
      this.meta = this.root.openDB({ name: "meta" });
      this.commits = new CommitWindow(this.root, COMMIT_WINDOW_MS);
    } catch (error) {
      throw new StoreOpenError(`cannot open ${options.file}: ${(error as Error).message}`);
    }
  }

  /**
   * Checks the format version, writing it into a new database, and returns it. Rejects data
   * written by a newer version of chat-server.
   */
  async checkFormat(): Promise<number> {
    const found = await this.meta.transaction(() => {
      const format = this.meta.get("format");
      if (format === undefined) this.meta.put("format", STORE_FORMAT);
      return format ?? STORE_FORMAT;
    });
    if (typeof found !== "number" || found > STORE_FORMAT) {
      throw new StoreOpenError(
        `${this.file} was written by a newer chat-server (format ${String(found)}; this one reads up to ${STORE_FORMAT})`,
      );
    }
    return found;
  }

  /**
   * A worker's check: the data is in this version's format (the primary upgrades it before it
   * forks workers, so an older format means the primary runs older code: a reload after an
   * upgrade, which needs a restart instead).
   */
  requireFormat(): void {
    const found = this.meta.get("format");
    if (found !== STORE_FORMAT) {
      throw new StoreOpenError(
        `${this.file} is in format ${String(found)}, this worker needs ${STORE_FORMAT}: restart chat-server (not reload) after an upgrade, so its primary upgrades the data`,
      );
    }
  }

  /**
   * Runs `action` in the next write transaction (shared with the other writes of this process
   * within the commit window); resolves once it is committed.
   */
  transaction<T>(action: () => T): Promise<T> {
    return this.commits.run(action);
  }

  /** Commits what is queued now and resolves once every write of this process is committed. */
  async committed(): Promise<void> {
    this.commits.commit();
    await this.root.committed;
  }

  /** Resolves once every commit so far is on the disk. */
  flushed(): Promise<unknown> {
    return this.root.flushed;
  }

  /** Reads after this see every commit made so far by any process. */
  refresh(): void {
    this.root.resetReadTxn();
  }

  /** The database file's size on disk. */
  fileBytes(): number {
    return statSync(this.file).size;
  }

  async close(): Promise<void> {
    await this.committed();
    await this.root.close();
  }
}
