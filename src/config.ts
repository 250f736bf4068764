/**
 * The server's options: one type, one defaults object, validated once at start-up, then frozen.
 * The CLI turns flags and environment variables into a `ServerConfig`; nothing else reads them.
 */
import os from "node:os";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface ServerConfig {
  /** TCP port to listen on. Default 3000. */
  port: number;
  /**
   * Address to bind. Default `0.0.0.0` with an auth secret, `127.0.0.1` without one (protected
   * mode: a server anyone could log in to is reachable from this host only unless asked).
   */
  host: string;
  /** Socket.IO worker processes. Default: the number of cores. */
  workers: number;
  /** Redis URL (`redis://` or `rediss://`); turns on multi-host mode. Default none. */
  redisUrl: string | undefined;
  /** Sentinels to find the Redis master through; turns on multi-host mode. Default none. */
  redisSentinels: RedisEndpoint[] | undefined;
  /** Sentinel master name. Default `mymaster`. */
  redisMaster: string;
  /**
   * Seed nodes of a Redis Cluster (`redis://host:port`, or `rediss://user:pass@host:port` for
   * TLS and a password); turns on multi-host mode. Default none.
   */
  redisCluster: string[] | undefined;
  /** Prefix of every Redis key and channel. Default `chat`. */
  redisPrefix: string;
  /** This host's name in presence data. Default `<hostname>:<port>`. */
  nodeId: string;
  /** HS256 secret; when set, logging in needs a JWT whose `sub` is the username. Default none. */
  authSecret: string | undefined;
  /** Largest message text in UTF-8 bytes. Default 4096. */
  maxMessageBytes: number;
  /** Events per second per connection, of every kind; bursts up to twice that. Default 20. */
  rateLimit: number;
  /** Grace period for draining on SIGTERM, in seconds. Default 10. */
  shutdownTimeout: number;
  /** pino log level. Default `info`. */
  logLevel: LogLevel;
  /** Origins allowed to connect from a browser (CORS); `*` for any. Default: same origin only. */
  corsOrigin: string[] | undefined;
  /**
   * Most Socket.IO sessions from one client address, over all workers, and most connections
   * from it whose request head is still being read; 0 for no limit. Default 1000.
   */
  maxConnectionsPerIp: number;
  /** Seconds a client has to send a whole request head, from accept (not reset by each byte). */
  requestHeadTimeout: number;
  /** Seconds a ready worker may go without a word to the primary before it is replaced. */
  workerStallTimeout: number;
  /** Bytes waiting to be sent to one connection before it is disconnected as a slow reader. */
  maxUnsentBytes: number;
  /** Logged-in sessions of one user on one worker; 0 for no limit. Default 32. */
  maxSessionsPerUser: number;
  /** Message bytes one sender may have stored per day (per worker); 0 for no limit. */
  maxStoredBytesPerUser: number;
  /** Log-in replays fetched at once per worker; more wait their turn. Default 16. */
  maxConcurrentReplays: number;
  /**
   * Embedded mode: the directory holding the inboxes. Default `$STATE_DIRECTORY` (systemd's
   * `StateDirectory=`) when set, else `./chat-data`. Given explicitly in multi-host mode, an error.
   */
  dataDir: string | undefined;
  /** Embedded mode: the database may grow to this many MiB; past it, sends are refused. Default 8192. */
  maxDataMb: number;
  /**
   * Embedded mode: acknowledge a message only once it is flushed to the disk, so it survives a
   * power loss too (by default it survives the death of every process, and reaches the disk
   * within milliseconds). Default false.
   */
  syncAcks: boolean;
}

export const DEFAULTS = Object.freeze({
  port: 3000,
  workers: os.availableParallelism(),
  redisUrl: undefined,
  redisSentinels: undefined,
  redisMaster: "mymaster",
  redisCluster: undefined,
  redisPrefix: "chat",
  nodeId: "",
  authSecret: undefined,
  maxMessageBytes: 4096,
  rateLimit: 20,
  shutdownTimeout: 10,
  logLevel: "info",
  corsOrigin: undefined,
  maxConnectionsPerIp: 1000,
  requestHeadTimeout: 10,
  workerStallTimeout: 30,
  maxUnsentBytes: 8 * 1024 * 1024,
  maxSessionsPerUser: 32,
  maxStoredBytesPerUser: 4 * 1024 * 1024,
  maxConcurrentReplays: 16,
  dataDir: undefined,
  maxDataMb: 8192,
  syncAcks: false,
} satisfies Omit<ServerConfig, "host">);

/** The address bound when `--host` is not given (protected mode without an auth secret). */
export function defaultHost(authSecret: string | undefined): string {
  return authSecret === undefined ? "127.0.0.1" : "0.0.0.0";
}

/** A user mistake in the options: the CLI prints its message alone, without a stack. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function isMultiHost(config: ServerConfig): boolean {
  return (
    config.redisUrl !== undefined ||
    config.redisSentinels !== undefined ||
    config.redisCluster !== undefined
  );
}

/** Fills defaults, checks every field, and returns a frozen config. */
export function resolveConfig(partial: Partial<ServerConfig>): Readonly<ServerConfig> {
  const given = stripUndefined(partial);
  const config: ServerConfig = {
    ...DEFAULTS,
    ...given,
    host: given.host ?? defaultHost(given.authSecret),
  };
  if (!config.nodeId) config.nodeId = `${os.hostname()}:${config.port}`;
  checkInteger("--port", config.port, 0, 65535);
  checkInteger("--workers", config.workers, 1, 1024);
  checkInteger("--max-message-bytes", config.maxMessageBytes, 1, 1024 * 1024);
  checkInteger("--max-connections-per-ip", config.maxConnectionsPerIp, 0, 10_000_000);
  checkInteger("--max-unsent-bytes", config.maxUnsentBytes, 64 * 1024, 2 ** 31);
  checkInteger("--max-sessions-per-user", config.maxSessionsPerUser, 0, 1_000_000);
  checkInteger("--max-stored-bytes-per-user", config.maxStoredBytesPerUser, 0, 2 ** 40);
  checkInteger("--max-concurrent-replays", config.maxConcurrentReplays, 1, 100_000);
  if (!(config.requestHeadTimeout > 0)) {
    throw new ConfigError("--request-head-timeout must be a positive number of seconds");
  }
  if (!(config.workerStallTimeout > 0)) {
    throw new ConfigError("--worker-stall-timeout must be a positive number of seconds");
  }
  if (!(config.rateLimit > 0)) throw new ConfigError("--rate-limit must be a positive number");
  if (!(config.shutdownTimeout > 0)) {
    throw new ConfigError("--shutdown-timeout must be a positive number of seconds");
  }
  if (!LOG_LEVELS.includes(config.logLevel)) {
    throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  }
  const redisModes = [config.redisUrl, config.redisSentinels, config.redisCluster];
  if (redisModes.filter((mode) => mode !== undefined).length > 1) {
    throw new ConfigError("give one of --redis, --redis-sentinels and --redis-cluster");
  }
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(config.redisPrefix)) {
    throw new ConfigError("--redis-prefix must be 1-64 characters of A-Z a-z 0-9 _ . : -");
  }
  checkInteger("--max-data-mb", config.maxDataMb, 1, 1024 * 1024 * 1024);
  if (isMultiHost(config)) {
    if (config.dataDir !== undefined) {
      throw new ConfigError("--data-dir is for embedded mode; multi-host mode keeps data in Redis");
    }
  } else {
    config.dataDir ??= process.env.STATE_DIRECTORY?.split(":")[0] || "chat-data";
  }
  if (config.authSecret !== undefined && config.authSecret.length < 16) {
    throw new ConfigError("--auth-secret must be at least 16 characters");
  }
  return Object.freeze(config);
}

function checkInteger(option: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${option} must be an integer from ${min} to ${max}`);
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `host`, `host:port`, `redis://…` or `rediss://…` to a URL ioredis takes. */
export function parseRedisUrl(value: string): string {
  const text = value.trim();
  if (/^rediss?:\/\//.test(text)) {
    try {
      new URL(text);
      return text;
    } catch {
      throw new ConfigError(`--redis: not a valid URL: ${value}`);
    }
  }
  const { host, port } = parseHostPort(text, 6379, "--redis");
  return `redis://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * `host:port,host:port,…` (each also `redis://…` or `rediss://user:pass@host:port`) to the seed
 * URLs of a Redis Cluster. TLS and credentials, when given, are the same for every node.
 */
export function parseClusterSeeds(value: string): string[] {
  const parts = value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new ConfigError("--redis-cluster: give host:port,host:port,…");
  const seeds = parts.map((part) => {
    if (!/^rediss?:\/\//.test(part)) {
      const { host, port } = parseHostPort(part, 6379, "--redis-cluster");
      return `redis://${host.includes(":") ? `[${host}]` : host}:${port}`;
    }
    try {
      new URL(part);
      return part;
    } catch {
      throw new ConfigError(`--redis-cluster: not a valid URL: ${part}`);
    }
  });
  const schemes = new Set(seeds.map((seed) => seed.slice(0, seed.indexOf(":"))));
  if (schemes.size > 1) {
    throw new ConfigError("--redis-cluster: use redis:// or rediss:// for every seed, not both");
  }
  return seeds;
}

/** `host:port,host:port,…` to a list of endpoints. */
export function parseSentinels(value: string): RedisEndpoint[] {
  const parts = value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new ConfigError("--redis-sentinels: give host:port,host:port,…");
  return parts.map((part) => parseHostPort(part, 26379, "--redis-sentinels"));
}

function parseHostPort(text: string, defaultPort: number, option: string): RedisEndpoint {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(text);
  if (!match?.[1]) throw new ConfigError(`${option}: expected host or host:port, got "${text}"`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`${option}: bad port in "${text}"`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}
