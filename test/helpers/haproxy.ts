/**
 * Runs the repository's haproxy.cfg in the foreground for a test, on ports the test chooses
 * (through the CHAT_* environment variables the config reads), and reads server states back
 * from its stats page.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO_ROOT } from "./chat-server.js";
import { freePorts } from "./ports.js";
import { killOnExit, stopWithin } from "./processes.js";

export const HAPROXY_CFG = path.join(REPO_ROOT, "haproxy.cfg");

/**
 * Why the HAProxy tests cannot run here (no haproxy, or one older than the 2.6 that haproxy.cfg
 * promises), else false. A skip; CI (`.ci/run` installs haproxy) counts a skip as a failure.
 */
export const haproxyUnavailable = haproxyProblem();

function haproxyProblem(): string | false {
  const probe = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (probe.error) return "haproxy is not installed (apt-get install haproxy; .ci/run does it)";
  const [, major, minor] = /version (\d+)\.(\d+)/i.exec(probe.stdout) ?? [];
  if (major === undefined || minor === undefined) {
    return `cannot read the version from haproxy -v: ${probe.stdout.trim()}`;
  }
  if (Number(major) * 100 + Number(minor) < 206) {
    return `haproxy ${major}.${minor} is older than 2.6, the oldest haproxy.cfg supports`;
  }
  return false;
}

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

/** What startHaproxy needs: the backends, and optionally fixed listen and stats ports. */
export interface HaproxyStart {
  backends: [number, number];
  /** Fixed ports; default: drawn free ones, drawn again if another process binds one first. */
  listen?: number;
  stats?: number;
}

/** HAProxy exited because a port it was to listen on was taken. */
class PortTakenError extends Error {}

/** Tries on a taken port: ports drawn free are only taken by a rare race (ports.ts). */
const BIND_ATTEMPTS = 5;

/**
 * Starts `haproxy -db -f haproxy.cfg` with the open-file limit at 20,000 (as on this project's
 * machines, so the config is proved to start there) and waits for its stats page. A port taken
 * between drawing it and HAProxy's bind is drawn again (fixed ones are tried again).
 */
export async function startHaproxy(start: HaproxyStart): Promise<Haproxy> {
  for (let attempt = 1; ; attempt++) {
    const [listen, stats] =
      start.listen !== undefined && start.stats !== undefined
        ? [start.listen, start.stats]
        : ((await freePorts(2)) as [number, number]);
    try {
      return await startHaproxyOnce({
        listen: start.listen ?? listen,
        stats: start.stats ?? stats,
        backends: start.backends,
      });
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= BIND_ATTEMPTS) throw error;
      await sleep(100 * attempt);
    }
  }
}

async function startHaproxyOnce(ports: HaproxyPorts): Promise<Haproxy> {
  const script = 'ulimit -n 20000 2>/dev/null; exec haproxy -db -f "$0"';
  const proc = spawn("/bin/sh", ["-c", script, HAPROXY_CFG], {
    env: { ...process.env, ...haproxyEnv(ports) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnExit(proc);
  const output: string[] = [];
  const collect = (chunk: Buffer) =>
    output.push(...chunk.toString("utf8").split("\n").filter(Boolean));
  proc.stdout?.on("data", collect);
  proc.stderr?.on("data", collect);
  // "close" comes after the last of its output was read.
  let closed = false;
  proc.once("close", () => {
    closed = true;
  });
  const haproxy: Haproxy = {
    url: `http://127.0.0.1:${ports.listen}`,
    statsUrl: `http://127.0.0.1:${ports.stats}`,
    proc,
    output,
    async stop() {
      await stopWithin(proc, "SIGTERM", 10_000, "haproxy");
    },
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (closed) {
      const text = output.join("\n");
      if (/cannot bind socket \(Address already in use\)/.test(text)) {
        throw new PortTakenError(`haproxy: a port was taken:\n${text}`);
      }
      throw new Error(`haproxy exited:\n${text}`);
    }
    try {
      const res = await fetch(`${haproxy.statsUrl}/;csv`, { signal: AbortSignal.timeout(2000) });
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
