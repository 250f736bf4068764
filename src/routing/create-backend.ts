/**
 * Picks the worker's back-end: the primary over IPC (embedded mode) or Redis (multi-host mode).
 */
import type { Logger } from "pino";
import { isMultiHost, type ServerConfig } from "../config.js";
import type { Backend } from "./backend.js";
import type { EmbeddedBackend } from "./embedded-backend.js";
import { createRedisBackend } from "./redis-backend.js";

export async function createBackend(
  config: ServerConfig,
  workerId: number,
  logger: Logger,
  embedded: EmbeddedBackend,
): Promise<Backend> {
  if (!isMultiHost(config)) return embedded;
  return createRedisBackend({
    url: config.redisUrl,
    sentinels: config.redisSentinels,
    masterName: config.redisMaster,
    prefix: config.redisPrefix,
    nodeId: config.nodeId,
    workerId,
    logger,
  });
}
