/**
 * Real chat-server hosts in multi-host mode for server-level tests: start one on a Redis (or
 * through Sentinel) with a node id and a key prefix, kill one as a power cut would (SIGKILL to
 * the primary and every worker), read which host holds a user from the presence data in Redis,
 * and poll /readyz.
 */
import { Redis } from "ioredis";
import { type ChatServer, startChatServer } from "./chat-server.js";
import { isRunning, waitFor } from "./wait.js";

export interface HostOptions {
  /** `["--redis", url]`, `["--redis-sentinels", list]` or `["--redis-cluster", seeds]`. */
  redis: string[];
  prefix: string;
  nodeId: string;
  /** Fixed port (HAProxy must know it up front); default: a free one. */
  port?: number;
  /** More CLI options, after the ones every host gets. */
  args?: string[];
}

/** One host: primary + 2 workers, a high rate limit (tests send in bursts), quick drain. */
export function startHost(options: HostOptions): Promise<ChatServer> {
  return startChatServer({
    workers: 2,
    ...(options.port === undefined ? {} : { port: options.port }),
    args: [
      ...options.redis,
      "--redis-prefix",
      options.prefix,
      "--node-id",
      options.nodeId,
      "--rate-limit",
      "1000",
      "--shutdown-timeout",
      "5",
      ...(options.args ?? []),
    ],
  });
}

/**
 * kill -9 of a whole host: the workers and the primary at once, so nothing runs a shutdown
 * path. Resolves when the primary has exited and no worker runs any more (a worker reparented
 * to a PID 1 that does not reap may stay a zombie: dead, its sockets closed, so it counts as
 * gone); throws if one survives.
 */
export async function killHost(host: ChatServer): Promise<void> {
  const workers = host.workerPids();
  const exited = new Promise<void>((resolve) => {
    if (host.proc.exitCode !== null || host.proc.signalCode !== null) resolve();
    else host.proc.once("exit", () => resolve());
  });
  for (const pid of workers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone (a replaced worker)
    }
  }
  host.proc.kill("SIGKILL");
  await exited;
  await waitFor("the killed host's workers to be gone", () => !workers.some(isRunning), 5000);
}

/** Reads presence data straight from Redis, to prove which host holds a user's session. */
export class PresenceProbe {
  private readonly client: Redis;

  constructor(
    port: number,
    private readonly prefix: string,
  ) {
    this.client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
    this.client.on("error", () => {});
  }

  /** Node ids of the hosts holding a session of `user`, sorted. */
  async hostsOf(user: string): Promise<string[]> {
    const workers = await this.client.hkeys(`${this.prefix}:presence:{${user}}`);
    return [...new Set(workers.map((w) => w.split("#")[0] ?? ""))].sort();
  }

  /** Waits until `user` is held by exactly the hosts `nodeIds`. */
  async waitForHosts(user: string, nodeIds: string[], timeoutMs = 10_000): Promise<void> {
    const wanted = JSON.stringify([...nodeIds].sort());
    await waitFor(
      `${user} on ${wanted}`,
      async () => JSON.stringify(await this.hostsOf(user)) === wanted,
      timeoutMs,
      50,
    );
  }

  close(): void {
    this.client.disconnect();
  }
}

/** The status code of GET /readyz, or 0 when nothing answers. */
export async function readyStatus(url: string): Promise<number> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Polls /readyz until it answers `status`; returns how long that took, in ms. */
export async function waitForReadyStatus(
  url: string,
  status: number,
  timeoutMs = 20_000,
): Promise<number> {
  const start = Date.now();
  await waitFor(
    `${url}/readyz to answer ${status}`,
    async () => (await readyStatus(url)) === status,
    timeoutMs,
    50,
  );
  return Date.now() - start;
}
