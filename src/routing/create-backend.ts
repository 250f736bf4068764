/**
 * Picks the worker's back-end: the primary over IPC (embedded mode) or Redis (multi-host mode).
 */
import type { Logger } from "pino";
import { ConfigError, isMultiHost, type ServerConfig } from "../config.js";
import type { Backend } from "./backend.js";
import type { EmbeddedBackend } from "./embedded-backend.js";

export async function createBackend(
  config: ServerConfig,
  _workerId: number,
  _logger: Logger,
  embedded: EmbeddedBackend,
): Promise<Backend> {
  if (!isMultiHost(config)) return embedded;
  throw new ConfigError("--redis: multi-host mode is not available in this build yet");
}
