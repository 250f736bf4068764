/**
 * Who is online on which worker, and which worker watches whom, in the embedded database. Both
 * are kept under two keys per pair: ["u", user, worker] to find a user's workers, and
 * ["w", worker, user] to find (and remove) a worker's users when it dies. Being in the same
 * database as the inboxes, presence is read in the transaction that stores a message: a log in
 * either committed before that transaction (and gets the message live) or after (and finds it
 * in the inbox); nothing falls between.
 */
import type { Database } from "lmdb";

type PairKey = [string, string | number, string | number];
export type PairTable = Database<1, PairKey>;

const LAST = "\uffff";
const MAX_WORKER = Number.MAX_SAFE_INTEGER;

/** The workers holding `user` (online there) or watching `user`, by worker id. */
export function workersOf(table: PairTable, user: string): number[] {
  const workers: number[] = [];
  for (const key of table.getKeys({ start: ["u", user, -1], end: ["u", user, MAX_WORKER] })) {
    workers.push(key[2] as number);
  }
  return workers;
}

export function addPair(table: PairTable, user: string, worker: number): void {
  table.put(["u", user, worker], 1);
  table.put(["w", worker, user], 1);
}

export function removePair(table: PairTable, user: string, worker: number): void {
  table.remove(["u", user, worker]);
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
  let start: PairKey = ["u", "", -1];
  while (users.length < limit) {
    const [key] = [...table.getKeys({ start, end: ["u", LAST, MAX_WORKER], limit: 1 })];
    if (!key) break;
    const user = key[1] as string;
    users.push(user);
    // Skip the user's other workers in one seek.
    start = ["u", user, MAX_WORKER];
  }
  return users;
}

/** Removes every pair (at start-up: no worker of an earlier run is alive). */
export function clearPairs(table: PairTable): void {
  for (const key of table.getKeys({})) table.remove(key);
}
