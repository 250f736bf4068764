/**
 * Embedded mode: the workers' peer sockets live in a private directory (mode 0700) under the
 * system's temporary directory, named after the primary's pid. A clean stop removes it; a
 * primary killed with -9 cannot, so each start removes the directories of this user's primaries
 * that are no longer running.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const PREFIX = "chat-server-";
const NAME = /^chat-server-(\d+)-/;

export function createPeerDirectory(): string {
  removeStalePeerDirectories();
  return mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
}

export function removePeerDirectory(directory: string): void {
  rmSync(directory, { recursive: true, force: true });
}

function removeStalePeerDirectories(): void {
  const parent = os.tmpdir();
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = Number(NAME.exec(name)?.[1]);
    if (!pid || pid === process.pid || isRunning(pid)) continue;
    const directory = path.join(parent, name);
    try {
      if (uid !== undefined && statSync(directory).uid !== uid) continue;
      removePeerDirectory(directory);
    } catch {
      // Gone meanwhile, or not ours to remove: leave it.
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
