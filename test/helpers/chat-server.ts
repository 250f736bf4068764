/**
 * Starts the real CLI (`bin/chat-server start`) on a free port and waits until it is ready.
 * Every test that needs a server uses this, so servers are real processes the test can signal.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { killOnExit, stopWithin } from "./processes.js";
import { isWorkerRunning } from "./wait.js";

const STOP_GRACE_MS = 30_000;

export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..", "..");
export const CLI = path.join(REPO_ROOT, "bin", "chat-server");

export interface ChatServerOptions {
  workers?: number;
  /** Extra CLI arguments, e.g. ["--rate-limit", "5"]. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Fixed port; default: a free one chosen by the OS (`--port 0`). */
  port?: number;
  /** Wait for /readyz 200 (default true). */
  waitReady?: boolean;
  /**
   * Embedded mode's data directory; default a new temporary one per server (removed when the
   * test process exits). Pass the same one again to restart a server on its data.
   */
  dataDir?: string;
}

export interface ChatServer {
  url: string;
  /** Embedded mode's data directory (undefined in multi-host mode). */
  dataDir: string | undefined;
  port: number;
  proc: ChildProcess;
  /** Every stdout/stderr line so far (JSON log lines and anything else). */
  output: string[];
  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[];
  /** Pids of the worker processes, from their start-up log lines. */
  workerPids(): number[];
  /**
   * SIGTERM, then wait for exit; returns the exit code (null if killed by a signal). Throws (after
   * a SIGKILL) if it has not exited within 30 s: more than any --shutdown-timeout tests use, or
   * if a worker outlives the primary by 10 s (it is killed then): a worker must end with its
   * primary, however the primary ends, or it holds the data directory and the test's pipes.
   */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Temporary data directories, removed when this test process exits (one hook for all). */
const dataDirectories = new Set<string>();
process.once("exit", () => {
  for (const directory of dataDirectories) rmSync(directory, { recursive: true, force: true });
});

/** A new temporary data directory, removed when this test process exits. */
export function tempDataDir(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), "chat-data-test-"));
  dataDirectories.add(directory);
  return directory;
}

/** chat-server exited because its fixed `--port` was taken. */
class PortTakenError extends Error {}

/** Tries on a taken fixed port, a moment apart: who holds it briefly (a probe of ports.ts, an
 * outgoing connection given that port by the kernel while the server was down) lets go. */
const BIND_ATTEMPTS = 10;

/**
 * Starts a server; on a fixed `port` that is taken at the moment (see BIND_ATTEMPTS) it tries
 * again on the same port. With the default `--port 0` no port can be taken.
 */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startChatServerOnce(options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= BIND_ATTEMPTS) throw error;
      await sleep(100 * attempt);
    }
  }
}

async function startChatServerOnce(options: ChatServerOptions): Promise<ChatServer> {
  const extra = options.args ?? [];
  const multiHost = extra.some((arg) => arg.startsWith("--redis"));
  const dataDir =
    multiHost || extra.includes("--data-dir") ? undefined : (options.dataDir ?? tempDataDir());
  const args = [
    CLI,
    "start",
    "--port",
    String(options.port ?? 0),
    "--host",
    "127.0.0.1",
    "--workers",
    String(options.workers ?? 2),
    "--log-level",
    "info",
    ...(dataDir === undefined ? [] : ["--data-dir", dataDir]),
    ...extra,
  ];
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  let server: ChatServer | undefined;
  let portResolve: (port: number) => void = () => {};
  const portPromise = new Promise<number>((resolve) => {
    portResolve = resolve;
  });
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      output.push(line);
      const log = parseJson(line);
      if (log && log.msg === "listening" && typeof log.port === "number") portResolve(log.port);
    }
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  killOnExit(proc, () => server?.workerPids() ?? []);
  // "close": after the last of its output was read (the reason it exited).
  const exited = once(proc, "close");
  let timer: NodeJS.Timeout | undefined;
  const port = await Promise.race([
    portPromise,
    exited.then(() => {
      const text = output.join("\n");
      if (options.port && /cannot listen on .*: the port is in use/.test(text)) {
        throw new PortTakenError(`chat-server: port ${options.port} is taken:\n${text}`);
      }
      throw new Error(`chat-server exited before listening:\n${text}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`chat-server not listening within 60 s:\n${output.join("\n")}`));
      }, 60_000);
    }),
  ]).finally(() => clearTimeout(timer));
  const url = `http://127.0.0.1:${port}`;
  server = {
    url,
    dataDir,
    port,
    proc,
    output,
    logs: () => output.map(parseJson).filter((x): x is Record<string, unknown> => x !== undefined),
    workerPids: () =>
      (server as ChatServer)
        .logs()
        .filter((log) => log.msg === "worker ready" && typeof log.workerPid === "number")
        .map((log) => log.workerPid as number),
    stop: async (signal = "SIGTERM") => {
      const code = await stopWithin(proc, signal, STOP_GRACE_MS, "chat-server");
      await workersEnded(server as ChatServer, signal);
      return code;
    },
  };
  if (options.waitReady !== false) {
    try {
      // Deadlines against a hang, not a speed check: a loaded machine starts workers slowly.
      await waitForReady(url, 60_000);
      // Ready means one worker can serve; tests that spread clients want every worker up.
      await waitForLog(server, (log) => log.msg === "all workers started", 60_000);
    } catch (error) {
      // Not left running: its pipes would keep the test process alive after the failure.
      for (const pid of server.workerPids()) killQuietly(pid);
      proc.kill("SIGKILL");
      throw new Error(`${(error as Error).message}; its output:\n${output.join("\n")}`);
    }
  }
  return server;
}

/** How long a worker may take to notice that its primary is gone and end. */
const WORKER_END_MS = 10_000;

/** Waits for the workers of a primary that has exited; kills survivors and throws naming them. */
async function workersEnded(server: ChatServer, signal: NodeJS.Signals): Promise<void> {
  const running = () => liveWorkerPids(server);
  const deadline = Date.now() + WORKER_END_MS;
  while (running().length > 0 && Date.now() < deadline) await sleep(50);
  const survivors = running();
  if (survivors.length === 0) return;
  for (const pid of survivors) killQuietly(pid);
  throw new Error(
    `worker ${survivors.join(", ")} still ran ${WORKER_END_MS} ms after its primary exited ` +
      `(stopped with ${signal}); killed now. The server's last lines:\n` +
      server.output.slice(-20).join("\n"),
  );
}

/**
 * Pids of the server's workers that still run: those that said "ready" and whose end the
 * primary has not logged.
 */
export function liveWorkerPids(server: ChatServer): number[] {
  const logs = server.logs();
  const ended = new Set(
    logs
      .filter((log) => /^worker (exited|died|could not start|did not)/.test(String(log.msg)))
      .map((log) => log.workerId),
  );
  const primary = server.proc.pid ?? 0;
  return logs
    .filter((log) => log.msg === "worker ready" && !ended.has(log.workerId))
    .map((log) => log.workerPid as number)
    .filter((pid) => isWorkerRunning(pid, primary));
}

/** Resolves when a log line matching `predicate` has been printed. */
export async function waitForLog(
  server: ChatServer,
  predicate: (log: Record<string, unknown>) => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!server.logs().some(predicate)) {
    if (Date.now() > deadline) throw new Error(`log line not seen within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Polls GET /readyz until it answers 200. */
export async function waitForReady(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not accepting yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/readyz not 200 within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
