/**
 * Inbox lifetimes without a PEXPIRE per message. An inbox (and its cursor) must live at least
 * `ttlMs` after its newest write. Renewing both on every write cost two Redis calls per message
 * (a sizeable share of Redis's CPU per message), so each worker renews a user's inbox and cursor
 * at most once per `renewEveryMs` (1/168 of the lifetime: 1 hour of 7 days), to `keepMs` =
 * `ttlMs + renewEveryMs`: a write that skips the renewal comes less than `renewEveryMs` after
 * one that set the expiry `keepMs` ahead, so the inbox still lives at least `ttlMs` after it,
 * and at most `renewEveryMs` longer than that.
 *
 * Every renewal of an inbox renews its cursor to the same time, and every write of a cursor
 * sets it `keepMs` ahead, so a cursor never expires before its inbox (which would make the next
 * log in replay messages a session has already had). The marks are forgotten when a call fails
 * or the connection comes back (Redis may have lost or never applied the renewal).
 */
import type { InboxLimits } from "./redis-inbox.js";

/** Renewals per lifetime. */
const RENEWALS_PER_TTL = 168;

export function renewEveryMs(limits: Pick<InboxLimits, "ttlMs">): number {
  return Math.max(1, Math.ceil(limits.ttlMs / RENEWALS_PER_TTL));
}

/** The expiry every inbox and cursor write sets: the lifetime plus one renewal period. */
export function keepMs(limits: Pick<InboxLimits, "ttlMs">): number {
  return limits.ttlMs + renewEveryMs(limits);
}

export class InboxRenewals {
  private renewed = new Set<string>();
  private periodStart: number;
  private readonly everyMs: number;

  constructor(
    limits: Pick<InboxLimits, "ttlMs">,
    private readonly now: () => number = Date.now,
  ) {
    this.everyMs = renewEveryMs(limits);
    this.periodStart = now();
  }

  /** Whether `user`'s inbox must be renewed with this write (then it counts as renewed). */
  due(user: string): boolean {
    const now = this.now();
    if (now - this.periodStart >= this.everyMs) {
      this.renewed = new Set();
      this.periodStart = now;
    }
    if (this.renewed.has(user)) return false;
    this.renewed.add(user);
    return true;
  }

  /** The next write of every inbox renews it. */
  forget(): void {
    this.renewed = new Set();
  }
}
