/**
 * Builds the worker's back-end: the primary and the other workers over IPC and the peer mesh
 * (embedded mode), or Redis (multi-host mode).
 */
import os from "node:os";
import type { Logger } from "pino";
import type { HubRequest } from "../cluster/ipc.js";
import { isMultiHost, type ServerConfig } from "../config.js";
import type { Backend } from "./backend.js";
import { EmbeddedBackend } from "./embedded-backend.js";
import { PeerMesh } from "./peer-mesh.js";
import { createRedisBackend, type RedisBackend } from "./redis-backend.js";

export interface WorkerBackend {
  backend: Backend;
  /** Present in embedded mode: it takes the primary's chat batches. */
  embedded: EmbeddedBackend | undefined;
  /** Present in multi-host mode. */
  redis: RedisBackend | undefined;
  /** The Unix socket other workers reach this one on (embedded mode). */
  peerPath: string | undefined;
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
    return { backend, embedded: undefined, redis: backend, peerPath: undefined };
  }
  const mesh = new PeerMesh(
    workerId,
    process.env.CHAT_PEER_DIR ?? os.tmpdir(),
    (messages) => embedded.receiveFromPeer(messages),
    logger,
  );
  const embedded = new EmbeddedBackend(
    { send: sendToPrimary, connected: () => process.connected },
    mesh,
    workerId,
    Number(process.env.CHAT_WORKER_SLOT ?? 0),
  );
  return { backend: embedded, embedded, redis: undefined, peerPath: mesh.socketPath };
}

function sendToPrimary(ops: HubRequest[], written: (error?: Error | null) => void): void {
  if (process.connected && process.send) process.send({ t: "chat", ops }, undefined, {}, written);
  else written(new Error("disconnected from the primary"));
}
