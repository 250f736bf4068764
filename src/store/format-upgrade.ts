/**
 * Upgrades a database written by an older chat-server to `STORE_FORMAT`, in the primary at start,
 * before any worker runs, in one transaction: a crash meanwhile leaves the old format whole.
 *
 * 1 -> 2: each user's record moves from the table "users" into the inbox table, next to the
 * user's messages; the last id and the kept bytes join the kept-message count in one meta key
 * (the inbox table's entry count no longer is that count). Presence needs nothing: the primary
 * clears it at every start.
 */
import { type ChatStore, STORE_FORMAT } from "./chat-store.js";
import { type Id, writeRecord, writeTally } from "./inbox-records.js";

/** Upgrades data of format `found`; returns false when it was already current. */
export async function upgradeFormat(store: ChatStore, found: number): Promise<boolean> {
  if (found === STORE_FORMAT) return false;
  await store.transaction(() => {
    const stats = store.messages.getStats() as { entryCount?: number };
    writeTally(store, {
      last: (store.meta.get("lastId") as Id | undefined) ?? [0, 0],
      bytes: (store.meta.get("bytes") as number | undefined) ?? 0,
      messages: stats.entryCount ?? 0,
    });
    store.meta.remove("lastId");
    store.meta.remove("bytes");
    for (const { key, value } of store.formatOneUsers.getRange({})) {
      writeRecord(store, key, value);
      store.formatOneUsers.remove(key);
    }
    store.meta.put("format", STORE_FORMAT);
  });
  return true;
}
