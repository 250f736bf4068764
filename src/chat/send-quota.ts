/**
 * What one sender may make the host store: a byte budget per sender and day, refilled evenly
 * (a token bucket whose burst is the whole day's allowance). Every accepted message is kept in
 * inboxes for days, so without it one account could fill the disk or Redis by writing to names
 * nobody uses. Kept per worker, in the chat layer, so it covers both modes alike.
 */

const DAY_MS = 24 * 60 * 60 * 1000;
/** Charged per message on top of its text: ids, names, timestamps and index entries. */
export const PER_MESSAGE_OVERHEAD_BYTES = 256;
/** How often senders whose budget has refilled are forgotten, to bound this map. */
const PRUNE_INTERVAL_MS = 10 * 60 * 1000;

interface Budget {
  bytes: number;
  at: number;
}

export class SendQuota {
  private readonly budgets = new Map<string, Budget>();
  private readonly perMs: number;
  private readonly pruner: NodeJS.Timeout | undefined;

  /** `bytesPerDay` 0: no limit. */
  constructor(private readonly bytesPerDay: number) {
    this.perMs = bytesPerDay / DAY_MS;
    if (bytesPerDay > 0) {
      this.pruner = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
      this.pruner.unref();
    }
  }

  /** Charges a message of `textBytes` to `sender`; false (nothing charged) when over budget. */
  take(sender: string, textBytes: number, now = Date.now()): boolean {
    if (this.bytesPerDay === 0) return true;
    const cost = textBytes + PER_MESSAGE_OVERHEAD_BYTES;
    const left = this.left(sender, now);
    if (left < cost) return false;
    this.budgets.set(sender, { bytes: left - cost, at: now });
    return true;
  }

  /** Senders with a partly spent budget (for tests and metrics). */
  get size(): number {
    return this.budgets.size;
  }

  close(): void {
    clearInterval(this.pruner);
  }

  private left(sender: string, now: number): number {
    const budget = this.budgets.get(sender);
    if (!budget) return this.bytesPerDay;
    return Math.min(this.bytesPerDay, budget.bytes + (now - budget.at) * this.perMs);
  }

  private prune(now = Date.now()): void {
    for (const sender of this.budgets.keys()) {
      if (this.left(sender, now) >= this.bytesPerDay) this.budgets.delete(sender);
    }
  }
}
