/**
 * A worker that cannot start tells the primary why, in one line, before it exits: the primary
 * stops with that reason when every worker fails the same way, instead of replacing them forever.
 */
import type { WorkerToPrimary } from "./ipc.js";

/** `TypeError [CODE]: message (at file:line:column)`: the first frame outside Node's own code. */
export function describeStartFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error).split("\n")[0] ?? "";
  const code = (error as NodeJS.ErrnoException).code;
  const head = `${error.name}${code ? ` [${code}]` : ""}: ${error.message.split("\n")[0]}`;
  const frame = error.stack
    ?.split("\n")
    .slice(1)
    .map((line) => line.trim().replace(/^at /, ""))
    .find((line) => !/\(?node:/.test(line));
  return frame ? `${head} (at ${frame})` : head;
}

/** Sends the reason to the primary (when there is one), then exits with status 1. */
export function exitWithStartFailure(error: unknown): void {
  const message: WorkerToPrimary = { t: "failed", reason: describeStartFailure(error) };
  if (!process.send || !process.connected) {
    process.stderr.write(`${message.reason}\n`);
    process.exit(1);
  }
  setTimeout(() => process.exit(1), 1000).unref();
  process.send(message, () => process.exit(1));
}
