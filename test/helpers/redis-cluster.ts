/**
 * A real Redis Cluster for tests: `masters` masters and one replica each, on free ports below
 * 55535 (each node's cluster bus listens on its port + 10000), quick failure detection
 * (cluster-node-timeout 1000 ms). Nodes can be killed and restarted like any test Redis.
 */
import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import { freeRestartablePort, type RedisProcess, rawCommand, startRedis } from "./redis-server.js";
import { waitFor } from "./wait.js";

const run = promisify(execFile);
const BUS_OFFSET = 10_000;

export interface RedisCluster {
  nodes: RedisProcess[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`: every node, for --redis-cluster. */
  seeds: string;
  /** Ports of the nodes that are masters now (with slots), per CLUSTER NODES. */
  masterPorts(): Promise<number[]>;
  /** Port of the master serving each of `slots` now. */
  mastersOf(slots: number[]): Promise<number[]>;
  /** Resolves once every live node says cluster_state:ok and agrees on the masters. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  node(port: number): RedisProcess;
  stop(): Promise<void>;
}

async function isFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port whose bus port (+10000) is free too, both below 55535. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freeRestartablePort();
    if (taken.has(port) || taken.has(port + BUS_OFFSET)) continue;
    if (port + BUS_OFFSET < 55535 && (await isFree(port + BUS_OFFSET))) {
      taken.add(port);
      taken.add(port + BUS_OFFSET);
      return port;
    }
  }
}

interface NodeLine {
  port: number;
  master: boolean;
  failed: boolean;
  slots: [number, number][];
}

function parseNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const parts = line.trim().split(" ");
      const port = Number((parts[1] ?? "").split("@")[0]?.split(":")[1]);
      const flags = parts[2] ?? "";
      const slots = parts.slice(8).flatMap((range): [number, number][] => {
        if (range.startsWith("[")) return [];
        const [from, to] = range.split("-").map(Number);
        return from === undefined ? [] : [[from, to ?? from]];
      });
      return { port, master: flags.includes("master"), failed: flags.includes("fail"), slots };
    });
}

/** Reads a bulk-string reply (CLUSTER NODES, CLUSTER INFO) over a fresh connection. */
async function bulk(port: number, command: string): Promise<string> {
  const { stdout } = await run("redis-cli", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    ...command.split(" "),
  ]);
  return stdout;
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < masters * 2; i++) ports.push(await clusterPort(taken));
  const nodes = await Promise.all(
    ports.map((port) =>
      startRedis({
        port,
        args: [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `nodes-${port}.conf`,
          "--cluster-node-timeout",
          "1000",
          // A replica promotes itself however long it was cut off (tests kill masters freely).
          "--cluster-replica-validity-factor",
          "0",
          // Slots without a master make the rest of the cluster refuse nothing it can serve.
          "--cluster-require-full-coverage",
          "no",
          "--cluster-allow-reads-when-down",
          "no",
          // A replica's first sync starts at once (Redis waits 5 s by default for more replicas
          // to share one transfer); until it is done the replica holds nothing to take over.
          "--repl-diskless-sync-delay",
          "0",
        ],
      }),
    ),
  );
  const byPort = new Map(nodes.map((node) => [node.port, node]));
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  const cluster: RedisCluster = {
    nodes,
    seeds: ports.map((port) => `127.0.0.1:${port}`).join(","),
    async masterPorts() {
      const live = await liveNode();
      return parseNodes(await bulk(live, "CLUSTER NODES"))
        .filter((n) => n.master && !n.failed && n.slots.length > 0)
        .map((n) => n.port)
        .sort((a, b) => a - b);
    },
    async mastersOf(slots) {
      const live = await liveNode();
      const lines = parseNodes(await bulk(live, "CLUSTER NODES"));
      return slots.map((slot) => {
        const owner = lines.find(
          (n) => n.master && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to),
        );
        if (!owner) throw new Error(`no master serves slot ${slot}`);
        return owner.port;
      });
    },
    async waitHealthy(timeoutMs = 20_000) {
      await waitFor(
        "every node of the Redis Cluster to say cluster_state:ok",
        async () => {
          const live = nodes.filter((n) => n.proc().exitCode === null && !n.proc().signalCode);
          const states = await Promise.all(live.map((n) => bulk(n.port, "CLUSTER INFO")));
          if (!states.every((info) => info.includes("cluster_state:ok"))) return false;
          // Every master has a replica again before a test kills one.
          const lines = parseNodes(await bulk(live[0]?.port ?? 0, "CLUSTER NODES"));
          if (lines.filter((n) => !n.failed).length !== live.length) return false;
          // ...that holds its data: a replica promoted before its first sync finished comes up
          // empty, and every write of its master (presence, inboxes) is gone with it.
          const replication = await Promise.all(live.map((n) => bulk(n.port, "INFO replication")));
          return replication.every(
            (info) => info.includes("role:master") || info.includes("master_link_status:up"),
          );
        },
        timeoutMs,
        100,
      );
    },
    node(port) {
      const node = byPort.get(port);
      if (!node) throw new Error(`no node on port ${port}`);
      return node;
    },
    stop,
  };
  const liveNode = async () => {
    for (const node of nodes) {
      if (node.proc().exitCode !== null || node.proc().signalCode) continue;
      if ((await rawCommand(node.port, "PING").catch(() => "")).startsWith("+PONG")) {
        return node.port;
      }
    }
    throw new Error("no node of the cluster answers");
  };
  await cluster.waitHealthy().catch(async (error: Error) => {
    await stop();
    throw error;
  });
  return cluster;
}
