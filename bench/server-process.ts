/**
 * Starts a target as a child process on a free port, waits for GET /readyz 200, and stops it
 * (with every process it started) afterwards.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { killProcesses, treeProcesses } from "./proc-stats.js";
import type { Target } from "./targets.js";

export interface RunningServer {
  url: string;
  port: number;
  /** Root of the server's process tree. */
  pid: number;
  /** The last lines it printed (for error reports). */
  output(): string;
  /** Whether its root process still runs. */
  alive(): boolean;
  stop(): Promise<void>;
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (typeof address !== "object" || !address) throw new Error("no free port");
  return address.port;
}

export async function startServer(
  target: Target,
  workers: number,
  timeoutMs = 30_000,
): Promise<RunningServer> {
  const host = "127.0.0.1";
  const port = await freePort(host);
  const child = spawn(process.execPath, target.args(port, host, workers), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = once(child, "exit");
  const url = `http://${host}:${port}`;
  const server: RunningServer = {
    url,
    port,
    pid: child.pid ?? -1,
    output: () => lines.join("\n"),
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const tree = treeProcesses(server.pid);
      child.kill("SIGTERM");
      const timer = setTimeout(() => killProcesses(tree), 8000);
      await exited;
      clearTimeout(timer);
      killProcesses(tree); // workers left behind by a primary that died abruptly
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (!(await isReady(url))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${target.name} exited before it was ready:\n${server.output()}`);
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${target.name}: ${url}/readyz not 200 within ${timeoutMs} ms`);
    }
    await sleep(100);
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
