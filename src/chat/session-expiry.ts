/**
 * With `--auth-secret` a session lasts as long as its token: at the token's `exp` the session's
 * `onExpire` runs (the service tells the client `UNAUTHORIZED` and disconnects it), unless a
 * `log in` with a fresh token rescheduled it first (that is how a client refreshes).
 */

/** setTimeout's largest delay; a later expiry is checked again at this interval. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionExpiry<S extends object> {
  private readonly timers = new WeakMap<S, NodeJS.Timeout>();

  constructor(private readonly onExpire: (session: S) => void) {}

  /** (Re)sets the end of `session` to `expiresAt` (epoch milliseconds). */
  schedule(session: S, expiresAt: number): void {
    this.cancel(session);
    const delay = Math.max(0, expiresAt - Date.now());
    const timer = setTimeout(
      () => {
        this.timers.delete(session);
        if (Date.now() < expiresAt) this.schedule(session, expiresAt);
        else this.onExpire(session);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    timer.unref();
    this.timers.set(session, timer);
  }

  cancel(session: S): void {
    const timer = this.timers.get(session);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(session);
  }
}
