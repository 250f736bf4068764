/**
 * Starts real `redis-server` processes (and Sentinels) on free ports for tests, so that tests can
 * kill and restart them. Nothing is saved to disk. Every process started here is killed when the
 * test process exits, even after a failure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports.js";
import { killOnExit } from "./processes.js";
import { waitFor } from "./wait.js";

const HOST = "127.0.0.1";

/** A port free right now, below the ephemeral range (see ports.ts): also one a test may stop
 * and restart a server on, as nothing else takes it meanwhile. */
export const freeRestartablePort = freePort;
export { freePort };

/** Sends one inline command over a fresh TCP connection; resolves with the raw reply text. */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, HOST);
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${HOST}:${port}`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8");
      if (reply.endsWith("\r\n")) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export interface RedisProcess {
  host: string;
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** The running process (replaced by `restart`). */
  proc(): ChildProcess;
  /** Everything it printed. */
  output: string[];
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same arguments; waits for PING. */
  restart(): Promise<void>;
  /** Stops it for good (idempotent). */
  stop(): Promise<void>;
}

/**
 * Starts redis-server and waits for its PING. A port taken at the moment ("Address already in
 * use": a probe of ports.ts in another test file holds it for an instant) is tried again, up to
 * `attempts` times, on the same port: a restart must come back where its clients look for it.
 */
async function launch(
  args: string[],
  port: number,
  output: string[],
  attempts = 10,
): Promise<ChildProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchOnce(args, port, output);
    } catch (error) {
      const taken = /Address already in use/.test(String(error));
      if (!taken || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

async function launchOnce(args: string[], port: number, output: string[]): Promise<ChildProcess> {
  const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  killOnExit(proc);
  const collect = (chunk: Buffer) => output.push(chunk.toString("utf8"));
  proc.stdout?.on("data", collect);
  proc.stderr?.on("data", collect);
  const exited = once(proc, "exit");
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  await waitFor(`redis-server on port ${port}`, async () => {
    if (gone) throw new Error(`redis-server exited:\n${output.join("")}`);
    // Refused or silent: not listening yet.
    const reply = await rawCommand(port, "PING").catch(() => "");
    return reply.startsWith("+PONG");
  }).catch((err: Error) => {
    proc.kill("SIGKILL");
    throw new Error(`${err.message}\n${output.join("")}`);
  });
  return proc;
}

function handle(
  args: string[],
  port: number,
  first: ChildProcess,
  output: string[],
  cleanup = () => {},
): RedisProcess {
  let proc = first;
  let stopped = false;
  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    proc.kill("SIGKILL");
    await exited;
  };
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    proc: () => proc,
    output,
    kill,
    async restart() {
      await kill();
      proc = await launch(args, port, output);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      cleanup();
    },
  };
}

/** A plain Redis on a free port (or `port`), nothing persisted. `args`: extra arguments. */
export async function startRedis(
  options: { port?: number; args?: string[] } = {},
): Promise<RedisProcess> {
  const port = options.port ?? (await freeRestartablePort());
  // Its own directory, so that nothing it writes (a replica's sync, say) lands in the checkout.
  const dir = mkdtempSync(path.join(os.tmpdir(), "chat-redis-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    HOST,
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    ...(options.args ?? []),
  ];
  const output: string[] = [];
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let proc: ChildProcess;
  try {
    // A port drawn here is drawn again when taken; a fixed one is tried again.
    proc = await launch(args, port, output, options.port === undefined ? 1 : undefined);
  } catch (error) {
    cleanup();
    // Another test took the port between the check and the bind: draw another.
    if (options.port === undefined && /Address already in use/.test(String(error))) {
      return startRedis(options);
    }
    throw error;
  }
  return handle(args, port, proc, output, cleanup);
}

export interface SentinelOptions {
  masterPort: number;
  masterName?: string;
  quorum?: number;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

/** A Sentinel watching the master on `masterPort`, with quick failure detection. */
export async function startSentinel(options: SentinelOptions): Promise<RedisProcess> {
  const port = await freeRestartablePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "chat-sentinel-"));
  const file = path.join(dir, "sentinel.conf");
  const name = options.masterName ?? "mymaster";
  writeFileSync(
    file,
    [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${dir}`,
      `sentinel monitor ${name} ${HOST} ${options.masterPort} ${options.quorum ?? 1}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 3000}`,
      `sentinel parallel-syncs ${name} 1`,
      "",
    ].join("\n"),
  );
  const args = [file, "--sentinel"];
  const output: string[] = [];
  return handle(args, port, await launch(args, port, output), output, () =>
    rmSync(dir, { recursive: true, force: true }),
  );
}
