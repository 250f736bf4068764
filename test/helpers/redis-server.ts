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
import { waitFor } from "./wait.js";

const HOST = "127.0.0.1";
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
});

/** A port nobody listens on right now. */
/**
 * A free port below the kernel's ephemeral range (32768-60999 here) for servers a test kills and
 * restarts on the same port: ports the OS hands out for `listen(0)` elsewhere can never take it
 * while it is down.
 */
export async function freeRestartablePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, HOST, () => resolve(true));
    });
    if (ok) {
      server.close();
      await once(server, "close");
      return port;
    }
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

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

async function launch(args: string[], port: number, output: string[]): Promise<ChildProcess> {
  const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(proc);
  proc.on("exit", () => live.delete(proc));
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
    return (await rawCommand(port, "PING")).startsWith("+PONG");
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
  const proc = await launch(args, port, output).catch((error: Error) => {
    cleanup();
    throw error;
  });
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
