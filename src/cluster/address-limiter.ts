/**
 * Counts open Socket.IO sessions per client address over all workers, so the primary can refuse
 * a new one from an address that already holds `limit`. The primary counts a session when it
 * hands out its handshake (so a burst cannot slip past), and the worker reports when it ends
 * (or when the handshake did not become a session). A worker that dies releases all of its own.
 *
 * Separately, it counts the connections of each address whose request head the primary is still
 * reading, from accept: no more than `limit` of those either, so slow heads cannot pile up.
 */
export class AddressLimiter {
  private readonly total = new Map<string, number>();
  private readonly heads = new Map<string, number>();
  private readonly byWorker = new Map<number, Map<string, number>>();

  constructor(private readonly limit: number) {}

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Whether a new session from `address` may start on `workerId`; counts it if so. */
  admit(address: string, workerId: number): boolean {
    const count = this.total.get(address) ?? 0;
    if (count >= this.limit) return false;
    this.total.set(address, count + 1);
    let mine = this.byWorker.get(workerId);
    if (!mine) {
      mine = new Map();
      this.byWorker.set(workerId, mine);
    }
    mine.set(address, (mine.get(address) ?? 0) + 1);
    return true;
  }

  /** A connection from `address` was accepted; false (not counted) if it has too many open. */
  openHead(address: string): boolean {
    if (!this.enabled) return true;
    const count = this.heads.get(address) ?? 0;
    if (count >= this.limit) return false;
    this.heads.set(address, count + 1);
    return true;
  }

  /** A connection counted by `openHead` was routed or closed. */
  closeHead(address: string): void {
    if (this.enabled) decrement(this.heads, address, 1);
  }

  release(address: string, workerId: number, count = 1): void {
    const mine = this.byWorker.get(workerId);
    const held = mine?.get(address) ?? 0;
    const n = Math.min(count, held);
    if (n <= 0 || !mine) return;
    decrement(mine, address, n);
    decrement(this.total, address, n);
  }

  workerGone(workerId: number): void {
    for (const [address, count] of this.byWorker.get(workerId) ?? []) {
      decrement(this.total, address, count);
    }
    this.byWorker.delete(workerId);
  }
}

function decrement(map: Map<string, number>, key: string, n: number): void {
  const left = (map.get(key) ?? 0) - n;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}
