/**
 * Builds the worker's back-end: the host's embedded database and the peer mesh (embedded mode),
 * or Redis (multi-host mode).
 */
import os from "node:os";
import type { Logger } from "pino";
import { isMultiHost, type ServerConfig } from "../config.js";
import { ChatStore } from "../store/chat-store.js";
import { survivesFailedCommits } from "../store/commit-errors.js";
import type { Backend } from "./backend.js";
import { EmbeddedBackend } from "./embedded-backend.js";
import { PeerMesh } from "./peer-mesh.js";
import { createRedisBackend, type RedisBackend } from "./redis-backend.js";

export interface WorkerBackend {
  backend: Backend;
  /** Present in embedded mode: it takes presence changes the primary tells of. */
  embedded: EmbeddedBackend | undefined;
  /** Present in multi-host mode. */
  redis: RedisBackend | undefined;
}

export function createBackend(
  config: ServerConfig,
  workerId: number,
  logger: Logger,
): WorkerBackend {
  if (isMultiHost(config)) {
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
  // The primary has checked, created and locked the data directory before forking.
  survivesFailedCommits();
  const store = new ChatStore({
    file: process.env.CHAT_STORE_FILE ?? "",
    maxBytes: config.maxDataMb * 1024 * 1024,
  });
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
