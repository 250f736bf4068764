/**
 * Waiting for events in tests: poll a condition until it holds, with a deadline, instead of
 * sleeping a fixed time. A retrying wait must tell "not yet" from "wrong": only "not yet" is
 * retried; anything else fails the test at once, so a wrong answer cannot hide behind a retry.
 */
import { AssertionError } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Thrown by a check to say "not yet, ask again" where an assertion would not read well. */
export class NotYet extends Error {}

/** Whether an error from a check means "not yet": a failed assertion or a NotYet. */
function isNotYet(error: unknown): boolean {
  return error instanceof AssertionError || error instanceof NotYet;
}

/**
 * Retries `check` while it fails an assertion (what it asserts has not happened yet) or throws
 * NotYet; returns its value once it passes. Any other error (a wrong error code, a lost
 * connection, a TypeError) is rethrown at once; so is the last "not yet" at the deadline.
 * In a check, assert only what may still change; throw a plain Error for what is wrong.
 */
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
      if (!isNotYet(error) || Date.now() > deadline) throw error;
      await sleep(everyMs);
    }
  }
}

/**
 * Polls `check` until it returns true; throws naming `what` after `timeoutMs`. `false` is "not
 * yet"; a throw from `check` is "wrong" and ends the wait at once (a check that may fail while
 * a service comes up catches that itself and returns false).
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** `promise`, or a rejection naming `what` if it has not settled within `timeoutMs`. */
export async function within<T>(timeoutMs: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a process with this pid is running (a zombie, dead but not yet reaped, is not). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat is the state; Z is a zombie. Not on Linux: trust kill(0).
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return !existsSync("/proc/self/stat");
  }
}

/**
 * Whether `pid` runs a chat-server worker (its command line names worker-start.js) whose parent
 * is `primary` or, once that is gone, init (pid 1): a pid from a log line may belong to another
 * process by now, even another server's worker. Off Linux: whether it runs at all.
 */
export function isWorkerRunning(pid: number, primary: number): boolean {
  if (!isRunning(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const command = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return command.includes("worker-start.js") && (parent === primary || parent === 1);
  } catch {
    return !existsSync("/proc/self/stat");
  }
}
