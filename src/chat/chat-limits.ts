/**
 * The bounds the chat layer keeps per connection and per account (README "Limits and abuse"):
 * unsent output per connection, sessions per user, stored bytes per sender and day, and with
 * `--auth-secret` the end of a session at its token's expiry. The per-connection event rate is
 * the token bucket in `rate-limiter.ts`.
 */
import type { ChatMetrics } from "./chat-metrics.js";
import { ReplayGate } from "./replay-gate.js";
import { SendQuota } from "./send-quota.js";
import { SessionExpiry } from "./session-expiry.js";
import { UnsentOutputGuard } from "./unsent-output.js";

export interface LimitOptions {
  /** Bytes waiting to be sent to one connection before it is cut as a slow reader. */
  maxUnsentBytes: number;
  /** Logged-in sessions of one user on this worker; 0 for no limit. */
  maxSessionsPerUser: number;
  /** Message bytes one sender may have stored per day on this worker; 0 for no limit. */
  maxStoredBytesPerUser: number;
  /** Log-in replays being fetched at once on this worker; more wait their turn. */
  maxConcurrentReplays: number;
}

export const NO_LIMITS: LimitOptions = {
  maxUnsentBytes: Number.MAX_SAFE_INTEGER,
  maxSessionsPerUser: 0,
  maxStoredBytesPerUser: 0,
  maxConcurrentReplays: Number.MAX_SAFE_INTEGER,
};

/** The `limit` label of `chat_limit_hits_total`, one per bound. */
export type LimitName =
  | "unsent_output"
  | "sessions_per_user"
  | "stored_bytes_per_user"
  | "token_expired"
  | "replay_in_progress"
  | "storage_full";

export class ChatLimits<S extends { conn: unknown }> {
  readonly unsent: UnsentOutputGuard;
  readonly quota: SendQuota;
  readonly expiry: SessionExpiry<S>;
  readonly replays: ReplayGate<S>;

  constructor(
    private readonly options: LimitOptions,
    private readonly metrics: ChatMetrics,
    onExpire: (session: S) => void,
  ) {
    this.unsent = new UnsentOutputGuard(options.maxUnsentBytes, () =>
      metrics.limitHit("unsent_output"),
    );
    this.quota = new SendQuota(options.maxStoredBytesPerUser);
    this.replays = new ReplayGate<S>(options.maxConcurrentReplays);
    this.expiry = new SessionExpiry<S>((session) => {
      metrics.limitHit("token_expired");
      onExpire(session);
    });
  }

  /** Whether a user who has `sessions` here may not log in another one. */
  tooManySessions(sessions: number): boolean {
    const max = this.options.maxSessionsPerUser;
    if (max === 0 || sessions < max) return false;
    this.metrics.limitHit("sessions_per_user");
    return true;
  }

  /** Whether `session` must wait for its last replay before logging in again (and counts it). */
  replayInProgress(session: S): boolean {
    if (!this.replays.isBusy(session)) return false;
    this.metrics.limitHit("replay_in_progress");
    return true;
  }

  /** Charges a message to its sender's daily storage allowance; false when it is used up. */
  chargeStorage(sender: string, text: string): boolean {
    if (this.quota.take(sender, Buffer.byteLength(text))) return true;
    this.metrics.limitHit("stored_bytes_per_user");
    return false;
  }

  /** A storage that refuses writes because it is full (Redis `maxmemory` with `noeviction`). */
  isStorageFull(error: unknown): boolean {
    const full = error instanceof Error && /\bOOM command not allowed\b/.test(error.message);
    if (full) this.metrics.limitHit("storage_full");
    return full;
  }

  close(): void {
    this.quota.close();
  }
}
