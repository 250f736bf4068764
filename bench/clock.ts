/**
 * One clock for every benchmark process: CLOCK_MONOTONIC (process.hrtime), which Linux shares
 * between processes, so a timestamp taken by the sender's generator can be compared with the
 * receiver's in another generator process. Microseconds, as a plain number (exact below 2^53).
 */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Resolves at monotonic time `atUs` (or at once if it has passed). */
export function sleepUntil(atUs: number): Promise<void> {
  const ms = Math.max(0, (atUs - nowUs()) / 1000);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
