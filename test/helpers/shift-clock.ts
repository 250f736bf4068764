/**
 * Test-only: loaded with `node --import` into a server (NODE_OPTIONS reaches its workers too),
 * it moves that process's wall clock by the milliseconds in its URL's `ms` parameter, so a test
 * can start a server "days later" on the same data directory. `Date.now()` and `new Date()`
 * move; timers and `performance.now()` do not. The product has no hook for this: only a test
 * that preloads this file changes the clock. Use `shiftClockOptions(ms)` to build NODE_OPTIONS.
 */
const shiftMs = Number(new URL(import.meta.url).searchParams.get("ms") ?? "0");

if (shiftMs !== 0) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class ShiftedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(realNow() + shiftMs);
      else super(...(args as [string | number | Date]));
    }

    static override now(): number {
      return realNow() + shiftMs;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
}

/** NODE_OPTIONS for a child process whose clock runs `ms` milliseconds ahead (or behind). */
export function shiftClockOptions(ms: number): string {
  const preload = new URL(import.meta.url);
  preload.search = `?ms=${ms}`;
  return [process.env.NODE_OPTIONS, `--import=${preload.href}`].filter(Boolean).join(" ");
}
