/**
 * The primary's part in embedded storage, none of it on the message path: it opens the database
 * first (so a bad data directory stops the start with one line), clears presence left by an
 * earlier run, removes a dead worker's presence and watches, enforces the age limit on disk
 * now and then, and reports the database's size.
 */
import type { Logger } from "pino";
import { ChatStore, STORE_FORMAT } from "./chat-store.js";
import { upgradeFormat } from "./format-upgrade.js";
import {
  dropExpired,
  INBOX_LIMITS,
  type InboxLimits,
  keptMessages,
  usersWithInboxes,
} from "./inbox-records.js";
import { clearPairs, removeWorker, workersOf } from "./presence-records.js";

/** How often expired messages are removed. */
const SWEEP_INTERVAL_MS = 3600_000;
/** Users examined per sweep transaction, so other writers wait at most a few ms. */
const SWEEP_CHUNK = 500;

export interface KeeperOptions {
  file: string;
  maxBytes: number;
  logger: Logger;
  limits?: InboxLimits;
}

export class StoreKeeper {
  readonly store: ChatStore;
  private readonly limits: InboxLimits;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** Messages removed by age since start. */
  expired = 0;

  constructor(private readonly options: KeeperOptions) {
    this.store = new ChatStore({ file: options.file, maxBytes: options.maxBytes });
    this.limits = options.limits ?? INBOX_LIMITS;
  }

  /**
   * Checks the format (upgrading data of an older one) and clears presence of an earlier run
   * (its workers are all gone).
   */
  async open(): Promise<void> {
    const found = await this.store.checkFormat();
    if (await upgradeFormat(this.store, found)) {
      this.options.logger.info({ from: found, to: STORE_FORMAT }, "data format upgraded");
    }
    await this.store.transaction(() => {
      clearPairs(this.store.presence);
      clearPairs(this.store.watches);
    });
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    void this.sweep();
  }

  /**
   * A worker is gone: removes its presence and watches. Returns, per worker that watches them,
   * the users that have no session left anywhere (they went offline).
   */
  async workerGone(worker: number): Promise<Map<number, string[]>> {
    return this.store.transaction(() => {
      removeWorker(this.store.watches, worker);
      const offline = new Map<number, string[]>();
      for (const user of removeWorker(this.store.presence, worker)) {
        if (workersOf(this.store.presence, user).length > 0) continue;
        for (const watcher of workersOf(this.store.watches, user)) {
          const users = offline.get(watcher) ?? [];
          users.push(user);
          offline.set(watcher, users);
        }
      }
      return offline;
    });
  }

  /** Removes expired messages, a chunk of users per transaction. */
  async sweep(now = Date.now()): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    const cutoff = now - this.limits.maxAgeMs;
    let removed = 0;
    try {
      let after: string | undefined;
      for (;;) {
        const users = usersWithInboxes(this.store, after, SWEEP_CHUNK);
        if (users.length === 0) break;
        removed += await this.store.transaction(() => dropExpired(this.store, users, cutoff));
        after = users.at(-1);
      }
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, "retention sweep failed");
    } finally {
      this.sweeping = false;
    }
    this.expired += removed;
    if (removed > 0) this.options.logger.info({ removed }, "expired messages removed");
    return removed;
  }

  /** The database file's size on disk, and how many messages it keeps (both copies count). */
  size(): { fileBytes: number; messages: number } {
    return { fileBytes: this.store.fileBytes(), messages: keptMessages(this.store) };
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.store.close();
  }
}
