/**
 * Starts a target as child processes on a free port (with its own redis-server first, for
 * targets that need one), waits for GET /readyz 200, and stops everything it started.
 * A multi-host run starts the target H times on one redis-server, each "host" on its own port.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { killProcesses, treeProcesses } from "./proc-stats.js";
import { CLIENT_HOSTS, type RedisSpec, type Target } from "./targets.js";

export interface RunningServer {
  /** The first host: the connection scenario and /metrics use it. */
  url: string;
  port: number;
  /** The hosts clients connect to (the first two of a multi-host run; the rest stay idle). */
  clientUrls: string[];
  /** Every host, idle ones too (their /metrics count what reached them). */
  hostUrls?: string[];
  /** Hosts started (1 unless a multi-host run). */
  hosts: number;
  /** Roots of the process trees whose CPU and memory count as the server's. */
  roots: number[];
  /** The last lines it printed (for error reports). */
  output(): string;
  /** Whether its main process still runs. */
  alive(): boolean;
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";

export async function freePort(host = HOST): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (typeof address !== "object" || !address) throw new Error("no free port");
  return address.port;
}

interface Child {
  process: ChildProcess;
  output(): string;
  running(): boolean;
  stop(): Promise<void>;
}

function startChild(command: string, args: string[]): Child {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.on("error", (error) => lines.push(`${command}: ${error.message}`));
  const exited = once(child, "exit");
  const running = () => child.exitCode === null && child.signalCode === null && !!child.pid;
  return {
    process: child,
    output: () => lines.join("\n"),
    running,
    async stop() {
      if (!running() || child.pid === undefined) return;
      const tree = treeProcesses(child.pid);
      child.kill("SIGTERM");
      const timer = setTimeout(() => killProcesses(tree), 8000);
      await exited;
      clearTimeout(timer);
      killProcesses(tree); // workers left behind by a primary that died abruptly
    },
  };
}

async function waitUntil(what: string, child: Child, ready: () => Promise<boolean>, ms: number) {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (!child.running()) throw new Error(`${what} exited before it was ready:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${ms} ms`);
    await sleep(100);
  }
}

async function startRedis(): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = startChild("redis-server", [
    ...["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
  ]);
  try {
    await waitUntil("redis-server", child, () => accepts(port), 10_000);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { child, url: `redis://${HOST}:${port}` };
}

export interface StartOptions {
  /** Most time until every host answers /readyz 200. */
  timeoutMs: number;
  /** Node writes a CPU profile of each server process here when it exits (workers inherit it). */
  cpuProfDir?: string | undefined;
}

export async function startServer(
  target: Target,
  workers: number,
  hosts = 1,
  { timeoutMs, cpuProfDir }: StartOptions = { timeoutMs: 30_000 },
): Promise<RunningServer> {
  const nodeArgs = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
  const redis = target.needsRedis || hosts > 1 ? await startRedis() : undefined;
  const prefix = `bench${randomBytes(4).toString("hex")}`;
  const mains: { child: Child; url: string; port: number }[] = [];
  for (let h = 1; h <= hosts; h++) {
    const port = await freePort();
    const spec: RedisSpec | undefined = redis && { url: redis.url, prefix, nodeId: `host${h}` };
    const child = startChild(process.execPath, [
      ...nodeArgs,
      ...target.args(port, HOST, workers, spec),
    ]);
    mains.push({ child, port, url: `http://${HOST}:${port}` });
  }
  const first = mains[0];
  if (!first) throw new Error("no hosts to start");
  const redisPid = redis?.child.process.pid;
  const server: RunningServer = {
    url: first.url,
    port: first.port,
    clientUrls: mains.slice(0, CLIENT_HOSTS).map((m) => m.url),
    hostUrls: mains.map((m) => m.url),
    hosts,
    roots: [...mains.map((m) => m.child.process.pid ?? -1), ...(redisPid ? [redisPid] : [])],
    output: () =>
      mains
        .map((m, i) => (hosts > 1 ? `[host${i + 1}]\n${m.child.output()}` : m.child.output()))
        .join("\n"),
    alive: () => mains.every((m) => m.child.running()),
    async stop() {
      await Promise.all(mains.map((m) => m.child.stop()));
      await redis?.child.stop();
    },
  };
  try {
    const what = (i: number) => (hosts > 1 ? `${target.name} host${i + 1}` : target.name);
    await Promise.all(
      mains.map((m, i) => waitUntil(what(i), m.child, () => isReady(m.url), timeoutMs)),
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
