/**
 * Kills what a test started when the test file is done or its process ends, however it ends:
 * normally, on a failed assertion, or on the SIGTERM the test runner sends a file that ran past
 * its time limit. A failed run leaves no server behind, and a leaked one cannot hold it open.
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { after } from "node:test";
import { isWorkerRunning } from "./wait.js";

const live = new Set<() => void>();

function killAll(): void {
  for (const kill of live) kill();
  live.clear();
}

// After the last test of the file: what is still running then was leaked (a `before` that
// failed half-way, say), and its pipes would keep the test process alive until its time limit.
after(killAll);
process.on("exit", killAll);
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  // Without a handler these signals end the process without running "exit" hooks.
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === "SIGHUP" ? 1 : signal === "SIGINT" ? 2 : 15));
  });
}

/**
 * SIGKILLs `proc`, and the extra pids `more()` names at that moment (a chat-server's workers),
 * when this process ends, unless `proc` has exited by then.
 */
export function killOnExit(proc: ChildProcess, more: () => number[] = () => []): void {
  const kill = () => {
    for (const pid of more()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  };
  live.add(kill);
  // A primary stopped with SIGTERM reaps its workers itself; one killed may leave some behind
  // (they should end with it): those still running when it exits are killed at the end too.
  proc.once("exit", () => {
    live.delete(kill);
    const left = more().filter((pid) => isWorkerRunning(pid, proc.pid ?? 0));
    if (left.length === 0) return;
    const killLeft = () => {
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    };
    live.add(killLeft);
  });
}

/**
 * Sends `signal` and waits for `proc` to exit; if it has not within `graceMs`, SIGKILLs it and
 * throws, so a process that ignores the signal fails the test instead of hanging it.
 * Resolves with the exit code (null when a signal ended it).
 */
export async function stopWithin(
  proc: ChildProcess,
  signal: NodeJS.Signals,
  graceMs: number,
  what = `pid ${proc.pid}`,
): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = once(proc, "exit") as Promise<[number | null]>;
  proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), graceMs);
  });
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === "late") {
    proc.kill("SIGKILL");
    await exited;
    throw new Error(`${what} did not exit within ${graceMs} ms of ${signal}`);
  }
  return outcome[0];
}
