/**
 * The servers the benchmark can drive. Each is started as real processes from its command
 * line, on a free port, and is ready when GET /readyz answers 200. Adding a design to compare
 * is adding an entry here.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
const BASELINES = path.join(REPO_ROOT, "dist", "bench", "baselines");

export type TargetName = "chat-server" | "chat-server-redis" | "seed" | "seed-redis" | "cluster";

/** Hosts of a multi-host run that get clients (split evenly); the others are idle members. */
export const CLIENT_HOSTS = 2;

/** The Redis a target shares with the other hosts of its run. */
export interface RedisSpec {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** A local Redis Cluster's nodes instead (`127.0.0.1:p1,…`; `--redis-cluster N`). */
  cluster?: string | undefined;
  /** Prefix of the run's keys and channels (random per run). */
  prefix: string;
  /** This host's name, `host1`, `host2`, ... */
  nodeId: string;
}

export interface Target {
  name: TargetName;
  /** One line for the report. */
  description: string;
  /** Baselines are what the product's figures are divided by. */
  baseline: boolean;
  /** Whether --workers applies (single-process designs run once, whatever it says). */
  usesWorkers: boolean;
  /** Whether the benchmark starts a redis-server for it (its CPU and memory count too). */
  needsRedis?: boolean;
  /**
   * Whether --hosts applies: the target can run as several hosts (processes started from its
   * command line) on one Redis. Implies needsRedis.
   */
  multiHost?: boolean;
  /** Whether it runs on a Redis Cluster too (`--redis-cluster`). */
  clusterCapable?: boolean;
  /** Node arguments that start it on `host:port` with `workers` workers. */
  args(port: number, host: string, workers: number, redis?: RedisSpec): string[];
  /** Most open connections it can hold: a single process is bound by its fd limit. */
  maxConnections?(fdLimit: number): number;
}

function chatServerArgs(port: number, host: string, workers: number): string[] {
  return [
    path.join(REPO_ROOT, "bin", "chat-server"),
    "start",
    ...["--port", String(port), "--host", host, "--workers", String(workers)],
    ...["--log-level", "warn", "--rate-limit", "1000000", "--shutdown-timeout", "2"],
    // Every simulated client comes from this one address and sends for the whole run. The
    // limit per address is on (as by default) but far away: its counting costs what it costs.
    ...["--max-connections-per-ip", "10000000", "--max-stored-bytes-per-user", "0"],
  ];
}

/** A new data directory for an embedded run, removed when the bench exits. */
function benchDataDir(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), "chat-bench-data-"));
  process.once("exit", () => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

export const TARGETS: Record<TargetName, Target> = {
  "chat-server": {
    name: "chat-server",
    description: "chat-server start (embedded mode, a new data directory per run)",
    baseline: false,
    usesWorkers: true,
    args: (port, host, workers) => [
      ...chatServerArgs(port, host, workers),
      ...["--data-dir", benchDataDir()],
    ],
  },
  "chat-server-redis": {
    name: "chat-server-redis",
    description:
      "chat-server start --redis (multi-host mode, its own redis-server; with --redis-cluster N " +
      "also --redis-cluster on a local cluster of N masters + N replicas)",
    baseline: false,
    usesWorkers: true,
    needsRedis: true,
    multiHost: true,
    clusterCapable: true,
    args: (port, host, workers, redis) => [
      ...chatServerArgs(port, host, workers),
      ...(redis?.cluster ? ["--redis-cluster", redis.cluster] : ["--redis", redis?.url ?? ""]),
      ...["--redis-prefix", redis?.prefix ?? "chat"],
      ...["--node-id", redis?.nodeId ?? `bench:${port}`],
    ],
  },
  seed: {
    name: "seed",
    description: "baseline (a): one socket.io process, in-memory username -> socket.id map",
    baseline: true,
    usesWorkers: false,
    args: (port, host) => [
      path.join(BASELINES, "seed-server.js"),
      ...["--port", String(port), "--host", host],
    ],
    // One process: every connection is a file descriptor; keep some for everything else.
    maxConnections: (fdLimit) => fdLimit - 500,
  },
  "seed-redis": {
    name: "seed-redis",
    description:
      "baseline (c): the seed's Redis design, one socket.io process per host, classic " +
      "@socket.io/redis-adapter, Redis SET user:<name> at log in and a GET per message",
    baseline: true,
    usesWorkers: false,
    needsRedis: true,
    multiHost: true,
    args: (port, host, _workers, redis) => [
      path.join(BASELINES, "seed-redis-server.js"),
      ...["--port", String(port), "--host", host],
      ...["--redis", redis?.url ?? "", "--prefix", redis?.prefix ?? "seed"],
    ],
    maxConnections: (fdLimit) => fdLimit - 500,
  },
  cluster: {
    name: "cluster",
    description: "baseline (b): primary + @socket.io/sticky + cluster adapter, rooms per user",
    baseline: true,
    usesWorkers: true,
    args: (port, host, workers) => [
      path.join(BASELINES, "cluster-server.js"),
      ...["--port", String(port), "--host", host, "--workers", String(workers)],
    ],
  },
};

export function parseTargets(list: string): Target[] {
  return list.split(",").map((name) => {
    const target = TARGETS[name.trim() as TargetName];
    if (!target) throw new Error(`unknown target "${name}" (${Object.keys(TARGETS).join(", ")})`);
    return target;
  });
}
