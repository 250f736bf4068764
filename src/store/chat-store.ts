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

/** Bumped when the layout changes; a server refuses data written by a newer one. */
export const STORE_FORMAT = 1;
export const STORE_FILE = "chat.mdb";
/** Under load, the writes of this many milliseconds share one commit (`commit-window.ts`). */
export const COMMIT_WINDOW_MS = 5;

/** [user, ms, seq] -> a stored message. */
export type MessageKey = [string, number, number];
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
  /** Every kept message of every inbox, by [user, ms, seq]. */
  readonly messages: Database<StoredMessage, MessageKey>;
  readonly users: Database<UserRecord, string>;
  /** ["u", user, worker] and ["w", worker, user]: who is online on which worker of this host. */
  readonly presence: Database<1, [string, string | number, string | number]>;
  /** Same shape as presence: which worker watches which user (presence subscriptions). */
  readonly watches: Database<1, [string, string | number, string | number]>;
  /** Format version and the last message id handed out. */
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
      this.users = this.root.openDB({ name: "users" });
      this.presence = this.root.openDB({ name: "presence" });
      this.watches = this.root.openDB({ name: "watches" });
      this.meta = this.root.openDB({ name: "meta" });
      this.commits = new CommitWindow(this.root, COMMIT_WINDOW_MS);
    } catch (error) {
      throw new StoreOpenError(`cannot open ${options.file}: ${(error as Error).message}`);
    }
  }

  /**
   * Checks the format version, writing it into a new database. Rejects data written by a newer
   * version of chat-server.
   */
  async checkFormat(): Promise<void> {
    const found = await this.meta.transaction(() => {
      const format = this.meta.get("format");
      if (format === undefined) this.meta.put("format", STORE_FORMAT);
      return format;
    });
    if (found !== undefined && (typeof found !== "number" || found > STORE_FORMAT)) {
      throw new StoreOpenError(
        `${this.file} was written by a newer chat-server (format ${String(found)}; this one reads up to ${STORE_FORMAT})`,
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

  /** The database file's size on disk, and how many messages it keeps (both copies count). */
  size(): { fileBytes: number; messages: number } {
    const stats = this.messages.getStats() as { entryCount?: number };
    return { fileBytes: statSync(this.file).size, messages: stats.entryCount ?? 0 };
  }

  async close(): Promise<void> {
    await this.committed();
    await this.root.close();
  }
}
