/**
 * Runs the repository's haproxy.cfg in the foreground for a test, on ports the test chooses
 * (through the CHAT_* environment variables the config reads), and reads server states back
 * from its stats page.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO_ROOT } from "./chat-server.js";

export const HAPROXY_CFG = path.join(REPO_ROOT, "haproxy.cfg");

/** A skip message when the haproxy binary is missing, else false (`.ci/run` installs it). */
export const haproxyMissing =
  spawnSync("haproxy", ["-v"]).error === undefined
    ? false
    : "haproxy is not installed (apt-get install haproxy; .ci/run does it); skipping";

export interface HaproxyPorts {
  listen: number;
  stats: number;
  backends: [number, number];
}

/** The environment that points haproxy.cfg at these ports on 127.0.0.1. */
export function haproxyEnv(ports: HaproxyPorts): NodeJS.ProcessEnv {
  return {
    CHAT_LISTEN: `127.0.0.1:${ports.listen}`,
    CHAT_STATS: `127.0.0.1:${ports.stats}`,
    CHAT_BACKEND_1: `127.0.0.1:${ports.backends[0]}`,
    CHAT_BACKEND_2: `127.0.0.1:${ports.backends[1]}`,
  };
}

/** `haproxy -c` on the config with this environment: its exit status and everything it said. */
export function checkHaproxyConfig(env: NodeJS.ProcessEnv): {
  status: number | null;
  output: string;
} {
  const result = spawnSync("haproxy", ["-c", "-f", HAPROXY_CFG], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface Haproxy {
  url: string;
  statsUrl: string;
  proc: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/**
 * Starts `haproxy -db -f haproxy.cfg` with the open-file limit at 20,000 (as on this project's
 * machines, so the config is proved to start there) and waits for its stats page.
 */
export async function startHaproxy(ports: HaproxyPorts): Promise<Haproxy> {
  const script = 'ulimit -n 20000 2>/dev/null; exec haproxy -db -f "$0"';
  const proc = spawn("/bin/sh", ["-c", script, HAPROXY_CFG], {
    env: { ...process.env, ...haproxyEnv(ports) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) =>
    output.push(...chunk.toString("utf8").split("\n").filter(Boolean));
  proc.stdout?.on("data", collect);
  proc.stderr?.on("data", collect);
  const exited = once(proc, "exit");
  const haproxy: Haproxy = {
    url: `http://127.0.0.1:${ports.listen}`,
    statsUrl: `http://127.0.0.1:${ports.stats}`,
    proc,
    output,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      await exited;
    },
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited:\n${output.join("\n")}`);
    try {
      const res = await fetch(`${haproxy.statsUrl}/;csv`);
      await res.arrayBuffer();
      if (res.ok) return haproxy;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await haproxy.stop();
      throw new Error(`haproxy stats page did not come up:\n${output.join("\n")}`);
    }
    await sleep(50);
  }
}

/** The state HAProxy gives a server of backend chat_servers (`UP`, `DOWN`, `UP 1/2`, …). */
export async function serverStatus(statsUrl: string, server: string): Promise<string> {
  const res = await fetch(`${statsUrl}/;csv`);
  const lines = (await res.text()).split("\n");
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const column = header.indexOf("status");
  for (const line of lines.slice(1)) {
    const fields = line.split(",");
    if (fields[0] === "chat_servers" && fields[1] === server) return fields[column] ?? "";
  }
  throw new Error(`server ${server} not on the stats page`);
}

/** Polls the stats page until the server's state is exactly `status`; returns the ms it took. */
export async function waitForServerStatus(
  statsUrl: string,
  server: string,
  status: "UP" | "DOWN",
  timeoutMs = 10_000,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    const current = await serverStatus(statsUrl, server);
    if (current === status) return Date.now() - start;
    if (Date.now() - start > timeoutMs) {
      throw new Error(`${server} still "${current}" after ${timeoutMs} ms, expected ${status}`);
    }
    await sleep(50);
  }
}
