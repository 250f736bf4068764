/**
 * Builds the worker's back-end: the host's embedded database and the peer mesh (embedded mode),
 * or Redis (multi-host mode). Each mode's modules are loaded only when it is the one running:
 * the Redis client alone adds about 25 MB to a process.
 */
import os from "node:os";
import type { Logger } from "pino";
import { isMultiHost, type ServerConfig } from "../config.js";
import type { Backend } from "./backend.js";
import type { EmbeddedBackend } from "./embedded-backend.js";
import type { RedisBackend } from "./redis-backend.js";

export interface WorkerBackend {
  backend: Backend;
  /** Present in embedded mode: it takes presence changes the primary tells of. */
  embedded: EmbeddedBackend | undefined;
  /** Present in multi-host mode. */
  redis: RedisBackend | undefined;
}

export async function createBackend(
  config: ServerConfig,
  workerId: number,
  logger: Logger,
): Promise<WorkerBackend> {
  if (isMultiHost(config)) {
    const { createRedisBackend } = await import("./redis-backend.js");
    const backend = createRedisBackend({
      url: config.redisUrl,
      sentinels: config.redisSentinels,
      masterName: config.redisMaster,
      cluster: config.redisCluster,
      prefix: config.redisPrefix,
      nodeId: config.nodeId,
      workerId,
      logger,
    });
    return { backend, embedded: undefined, redis: backend };
  }
  const [{ ChatStore }, { survivesFailedCommits }, { EmbeddedBackend }, { PeerMesh }] =
    await Promise.all([
      import("../store/chat-store.js"),
      import("../store/commit-errors.js"),
      import("./embedded-backend.js"),
      import("./peer-mesh.js"),
    ]);
  // The primary has checked, created and locked the data directory before forking.
  survivesFailedCommits();
  const store = new ChatStore({
    file: process.env.CHAT_STORE_FILE ?? "",
    maxBytes: config.maxDataMb * 1024 * 1024,
  });
  store.requireFormat();
  const mesh = new PeerMesh(
    workerId,
    process.env.CHAT_PEER_DIR ?? os.tmpdir(),
    {
      frames: (frames) => embedded.receive(frames),
      peerConnected: () => embedded.catchUp(),
    },
    logger,
  );
  const embedded = new EmbeddedBackend({
    store,
    mesh,
    workerId,
    logger,
    syncAcks: config.syncAcks,
    maxBytes: config.maxDataMb * 1024 * 1024,
  });
  return { backend: embedded, embedded, redis: undefined };
}
