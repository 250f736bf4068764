/**
 * Embedded mode: the workers' peer sockets live in a private directory (mode 0700) under the
 * system's temporary directory, named after the primary's pid. A clean stop removes it; a
 * primary killed with -9 cannot, so each start removes this user's directories whose primary is
 * gone: no process with that pid, and no worker answering on any of its sockets (a pid alone
 * could belong to another pid namespace sharing /tmp).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const PREFIX = "chat-server-";
const NAME = /^chat-server-(\d+)-/;

export async function createPeerDirectory(): Promise<string> {
  await removeStalePeerDirectories();
  return mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
}

export function removePeerDirectory(directory: string): void {
  rmSync(directory, { recursive: true, force: true });
}

async function removeStalePeerDirectories(): Promise<void> {
  const parent = os.tmpdir();
  const uid = process.getuid?.();
  for (const name of safeReaddir(parent)) {
    const pid = Number(NAME.exec(name)?.[1]);
    if (!pid || pid === process.pid || isRunning(pid)) continue;
    const directory = path.join(parent, name);
    try {
      if (uid !== undefined && statSync(directory).uid !== uid) continue;
      const sockets = safeReaddir(directory).filter((file) => file.endsWith(".sock"));
      const live = await Promise.all(sockets.map((s) => isListening(path.join(directory, s))));
      if (!live.some(Boolean)) removePeerDirectory(directory);
    } catch {
      // Gone meanwhile, or not ours to remove: leave it.
    }
  }
}

function safeReaddir(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch {
    return [];
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

/** Whether something listens on the Unix socket at `socketPath`. */
function isListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection(socketPath);
    socket.setTimeout(1000);
    const done = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(true));
  });
}
