/**
 * The data directory of embedded mode: created when missing, checked to be writable, and held by
 * one running server at a time. The hold is a listening Unix socket in Linux's abstract
 * namespace, named after the directory's real path: the kernel releases it when the primary
 * exits, however it exits (kill -9 included), so there is no stale lock file to clean up.
 */

import { createHash } from "node:crypto";
import { accessSync, constants, mkdirSync, realpathSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { STORE_FILE, StoreOpenError } from "./chat-store.js";

export interface HeldDirectory {
  /** The real path of the directory. */
  directory: string;
  /** The database file inside it. */
  file: string;
  release(): void;
}

/** Creates and checks `directory`, then holds it; a one-line `StoreOpenError` when it cannot. */
export async function holdDataDirectory(directory: string): Promise<HeldDirectory> {
  const resolved = path.resolve(directory);
  try {
    mkdirSync(resolved, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new StoreOpenError(`cannot create ${resolved}: ${reason(error)}`);
  }
  let real: string;
  try {
    real = realpathSync(resolved);
    if (!statSync(real).isDirectory()) throw new Error("not a directory");
    accessSync(real, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new StoreOpenError(`cannot use ${resolved}: ${reason(error)}`);
  }
  const lock = await listenOnce(lockName(real));
  if (!lock) {
    throw new StoreOpenError(`${real} is in use by another running chat-server`);
  }
  return {
    directory: real,
    file: path.join(real, STORE_FILE),
    release: () => lock.close(),
  };
}

function lockName(real: string): string {
  // The abstract namespace: a leading NUL byte; no file, no length problem with long paths.
  return `\0chat-server-data:${createHash("sha256").update(real).digest("hex")}`;
}

/** Listens on the abstract socket; undefined when another process already does. */
function listenOnce(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") resolve(undefined);
      else reject(new StoreOpenError(`cannot lock the data directory: ${error.message}`));
    });
    server.listen(name, () => {
      server.unref();
      resolve(server);
    });
  });
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EROFS") return "read-only file system";
  if (code === "ENOTDIR" || code === "EEXIST") return "not a directory";
  if (code === "ENOSPC") return "no space left on the device";
  return (error as Error).message;
}
