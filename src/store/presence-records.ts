/**
 * Who is online on which worker, and which worker watches whom, in the embedded database. A pair
 * (user, worker) is kept under two keys: ["u", user] holds the user's workers, so the send path
 * finds them with one read, and ["w", worker, user] finds (and removes) a worker's users when it
 * dies. Being in the same database as the inboxes, presence is read in the transaction that
 * stores a message: a log in either committed before that transaction (and gets the message
 * live) or after (and finds it in the inbox); nothing falls between.
 */
import type { Database } from "lmdb";

type UserKey = [string, string];
type WorkerKey = [string, number, string];
export type PairTable = Database<number[] | 1, UserKey | WorkerKey>;

const LAST = "\uffff";

/** The workers holding `user` (online there) or watching `user`, by worker id. */
export function workersOf(table: PairTable, user: string): number[] {
  return (table.get(["u", user]) as number[] | undefined) ?? [];
}

export function addPair(table: PairTable, user: string, worker: number): void {
  const workers = workersOf(table, user);
  if (!workers.includes(worker)) {
    table.put(
      ["u", user],
      [...workers, worker].sort((a, b) => a - b),
    );
  }
  table.put(["w", worker, user], 1);
}

export function removePair(table: PairTable, user: string, worker: number): void {
  const workers = workersOf(table, user).filter((w) => w !== worker);
  if (workers.length === 0) table.remove(["u", user]);
  else table.put(["u", user], workers);
  table.remove(["w", worker, user]);
}

/** Removes every pair of `worker`; returns its users. */
export function removeWorker(table: PairTable, worker: number): string[] {
  const users: string[] = [];
  for (const key of table.getKeys({ start: ["w", worker, ""], end: ["w", worker, LAST] })) {
    users.push(key[2] as string);
  }
  for (const user of users) removePair(table, user, worker);
  return users;
}

/** Users with at least one pair, sorted, at most `limit`. */
export function listUsers(table: PairTable, limit: number): string[] {
  const users: string[] = [];
  for (const key of table.getKeys({ start: ["u", ""], end: ["u", LAST], limit })) {
    users.push(key[1] as string);
  }
  return users;
}

/** Removes every pair (at start-up: no worker of an earlier run is alive). */
export function clearPairs(table: PairTable): void {
  for (const key of table.getKeys({})) table.remove(key);
}
