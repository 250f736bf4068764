/**
 * `--redis-cluster N`: a local Redis Cluster of N masters with one replica each, the way the
 * multi-host guide sets one up (`redis-cli --cluster create … --cluster-replicas 1`), on ports
 * whose cluster bus (port + 10000) is free too. Ready when every node says cluster_state:ok and
 * every replica has finished its first sync. Nothing is written to the checkout.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { accepts, type Child, startChild, waitUntil } from "./child.js";

const run = promisify(execFile);
const HOST = "127.0.0.1";
const BUS_OFFSET = 10_000;

export interface LocalCluster {
  /** `127.0.0.1:p1,127.0.0.1:p2,…`: every node, for --redis-cluster. */
  seeds: string;
  /** Every redis-server process, masters and replicas. */
  pids: number[];
  /** The masters' processes (with slots), as the cluster set them up. */
  masterPids: number[];
  output(): string;
  stop(): Promise<void>;
}

function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** A port from 20000 to 44999 (below the kernel's ephemeral range) whose bus port is free. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if (taken.has(port) || taken.has(port + BUS_OFFSET)) continue;
    if ((await isFree(port)) && (await isFree(port + BUS_OFFSET))) {
      taken.add(port).add(port + BUS_OFFSET);
      return port;
    }
  }
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["-h", HOST, "-p", String(port), ...args]);
  return stdout;
}

export async function startLocalCluster(masters: number): Promise<LocalCluster> {
  const taken = new Set<number>();
  const nodes: { port: number; child: Child; dir: string }[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.child.stop()));
    for (const node of nodes) rmSync(node.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * 2; i++) {
      const port = await clusterPort(taken);
      const dir = mkdtempSync(path.join(os.tmpdir(), "chat-bench-cluster-"));
      const child = startChild("redis-server", [
        ...["--port", String(port), "--bind", HOST, "--dir", dir],
        ...["--save", "", "--appendonly", "no", "--cluster-enabled", "yes"],
        ...["--cluster-config-file", "nodes.conf", "--repl-diskless-sync-delay", "0"],
      ]);
      nodes.push({ port, child, dir });
    }
    for (const { port, child } of nodes) {
      await waitUntil("redis-server", child, () => accepts(port), 10_000);
    }
    await run("redis-cli", [
      ...["--cluster", "create", ...nodes.map(({ port }) => `${HOST}:${port}`)],
      ...["--cluster-replicas", "1", "--cluster-yes"],
    ]);
    const first = nodes[0] as (typeof nodes)[number];
    await waitUntil(
      "the Redis Cluster",
      first.child,
      async () => {
        const infos = await Promise.all(nodes.map(({ port }) => cli(port, "CLUSTER", "INFO")));
        if (!infos.every((info) => info.includes("cluster_state:ok"))) return false;
        const replication = await Promise.all(
          nodes.map(({ port }) => cli(port, "INFO", "replication")),
        );
        return replication.every(
          (info) => info.includes("role:master") || info.includes("master_link_status:up"),
        );
      },
      30_000,
    );
    const roles = await Promise.all(nodes.map(({ port }) => cli(port, "ROLE")));
    const masterPids = nodes
      .filter((_, i) => roles[i]?.startsWith("master"))
      .map(({ child }) => child.process.pid ?? -1);
    return {
      seeds: nodes.map(({ port }) => `${HOST}:${port}`).join(","),
      pids: nodes.map(({ child }) => child.process.pid ?? -1),
      masterPids,
      output: () => nodes.map(({ port, child }) => `[redis ${port}]\n${child.output()}`).join("\n"),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
