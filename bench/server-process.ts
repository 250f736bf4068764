/**
 * Starts a target as child processes on a free port (with its own redis-server first, for
 * targets that need one), waits for GET /readyz 200, and stops everything it started.
 * A multi-host run starts the target H times on one redis-server, each "host" on its own port,
 * or with `--redis-cluster N` on a local Redis Cluster of N masters and N replicas.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { accepts, type Child, startChild, waitUntil } from "./child.js";
import { startLocalCluster } from "./redis-cluster.js";
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
  /** Of those, the redis-server processes (every node of a cluster), and which are masters. */
  redisPids: number[];
  redisMasterPids: number[];
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

/** The Redis of a run: what the hosts are told, its processes, and how to stop it. */
interface RunRedis {
  spec: Omit<RedisSpec, "nodeId">;
  pids: number[];
  masterPids: number[];
  output(): string;
  stop(): Promise<void>;
}

async function startRedis(prefix: string): Promise<RunRedis> {
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
  const pid = child.process.pid ?? -1;
  return {
    spec: { url: `redis://${HOST}:${port}`, prefix },
    pids: [pid],
    masterPids: [pid],
    output: child.output,
    stop: child.stop,
  };
}

async function startCluster(prefix: string, masters: number): Promise<RunRedis> {
  const cluster = await startLocalCluster(masters);
  return {
    spec: { url: "", cluster: cluster.seeds, prefix },
    pids: cluster.pids,
    masterPids: cluster.masterPids,
    output: cluster.output,
    stop: cluster.stop,
  };
}

export interface StartOptions {
  /** Most time until every host answers /readyz 200. */
  timeoutMs: number;
  /** Node writes a CPU profile of each server process here when it exits (workers inherit it). */
  cpuProfDir?: string | undefined;
  /** Masters of a local Redis Cluster to run a multi-host target on, instead of one Redis. */
  redisMasters?: number | undefined;
}

export async function startServer(
  target: Target,
  workers: number,
  hosts = 1,
  { timeoutMs, cpuProfDir, redisMasters }: StartOptions = { timeoutMs: 30_000 },
): Promise<RunningServer> {
  const nodeArgs = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
  const prefix = `bench${randomBytes(4).toString("hex")}`;
  const redis = redisMasters
    ? await startCluster(prefix, redisMasters)
    : target.needsRedis || hosts > 1
      ? await startRedis(prefix)
      : undefined;
  const mains: { child: Child; url: string; port: number }[] = [];
  for (let h = 1; h <= hosts; h++) {
    const port = await freePort();
    const spec: RedisSpec | undefined = redis && { ...redis.spec, nodeId: `host${h}` };
    const child = startChild(process.execPath, [
      ...nodeArgs,
      ...target.args(port, HOST, workers, spec),
    ]);
    mains.push({ child, port, url: `http://${HOST}:${port}` });
  }
  const first = mains[0];
  if (!first) throw new Error("no hosts to start");
  const server: RunningServer = {
    url: first.url,
    port: first.port,
    clientUrls: mains.slice(0, CLIENT_HOSTS).map((m) => m.url),
    hostUrls: mains.map((m) => m.url),
    hosts,
    roots: [...mains.map((m) => m.child.process.pid ?? -1), ...(redis?.pids ?? [])],
    redisPids: redis?.pids ?? [],
    redisMasterPids: redis?.masterPids ?? [],
    output: () =>
      mains
        .map((m, i) => (hosts > 1 ? `[host${i + 1}]\n${m.child.output()}` : m.child.output()))
        .join("\n"),
    alive: () => mains.every((m) => m.child.running()),
    async stop() {
      await Promise.all(mains.map((m) => m.child.stop()));
      await redis?.stop();
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
