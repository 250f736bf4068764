/**
 * Waiting for events in tests: poll a condition until it holds, with a deadline, instead of
 * sleeping a fixed time.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Retries `check` until it stops throwing, or rethrows its last error after the deadline. */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(everyMs);
    }
  }
}

/** Polls `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<void> {
  const timedOut = new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  await eventually(
    async () => {
      let done = false;
      try {
        done = await check();
      } catch {
        // not yet
      }
      if (!done) throw timedOut;
    },
    timeoutMs,
    intervalMs,
  );
}

/** Whether a process with this pid is running. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
