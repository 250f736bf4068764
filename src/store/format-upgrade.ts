/**
 * Upgrades a database written by an older chat-server to `STORE_FORMAT`, in the primary at start,
 * before any worker runs, in one transaction: a crash meanwhile leaves the old format whole.
 *
 * 1 -> 2: each user's record moves from the table "users" into the inbox table, next to the
 * user's messages, and the kept-message count moves into meta (the inbox table's entry count no
 * longer is it). Presence needs nothing: the primary clears it at every start.
 */
import { type ChatStore, STORE_FORMAT } from "./chat-store.js";
import { writeRecord } from "./inbox-records.js";

export async function upgradeFormat(store: ChatStore, found: number): Promise<void> {
  if (found === STORE_FORMAT) return;
  await store.transaction(() => {
    const stats = store.messages.getStats() as { entryCount?: number };
    store.meta.put("messages", stats.entryCount ?? 0);
    for (const { key, value } of store.formatOneUsers.getRange({})) {
      writeRecord(store, key, value);
      store.formatOneUsers.remove(key);
    }
    store.meta.put("format", STORE_FORMAT);
  });
}
