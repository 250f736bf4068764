/**
 * Creating the ioredis clients of the Redis back-end: from a URL, through Sentinels, or from the
 * seed nodes of a Redis Cluster, with the options that make them fail fast instead of queueing,
 * reconnect by themselves, and never crash the process on a connection error.
 */
import { isIP } from "node:net";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";

/** A client of one Redis (directly or through Sentinel) or of a whole Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** The pino methods the back-end logs through (a pino logger fits). */
export interface BackendLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: BackendLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

export interface RedisTarget {
  /** `redis://…`, `rediss://…`, `host` or `host:port`. */
  url?: string | undefined;
  /** Sentinels to find the master through; used instead of `url` when given. */
  sentinels?: { host: string; port: number }[] | undefined;
  /** Sentinel master name. */
  masterName: string;
  /**
   * Seed nodes of a Redis Cluster (`host:port`, `redis://…` or `rediss://user:pass@host:port`);
   * used instead of `url` and `sentinels` when given. The first seed's scheme and credentials
   * apply to every node (TLS, ACL user and password).
   */
  cluster?: string[] | undefined;
}

/** Where the back-end connects, in words for error messages: `127.0.0.1:6379`. */
export function describeTarget(target: RedisTarget): string {
  if (target.cluster?.length) {
    return `${target.cluster.map((seed) => hostPort(toUrl(seed))).join(",")} (Redis Cluster)`;
  }
  if (target.sentinels?.length) {
    const list = target.sentinels.map((s) => `${s.host}:${s.port}`).join(",");
    return `${list} (Sentinel master "${target.masterName}")`;
  }
  return hostPort(toUrl(target.url ?? "redis://127.0.0.1:6379"));
}

function hostPort(url: URL): string {
  return `${url.hostname.replace(/^\[|\]$/g, "")}:${url.port || "6379"}`;
}

function toUrl(text: string): URL {
  return new URL(/^rediss?:\/\//.test(text) ? text : `redis://${text}`);
}

/** Connection options from the target: host, port, TLS, credentials and database. */
function targetOptions(target: RedisTarget): RedisOptions {
  if (target.sentinels?.length) {
    return {
      sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
      name: target.masterName,
      sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
      // No `failoverDetector`: in ioredis 6 its disconnect on +switch-master, when it lands while
      // the client is already reconnecting (the master was killed), ends the client for good.
      // A killed master closes the connection anyway, and a demoted one answers READONLY.
    };
  }
  const url = toUrl(target.url ?? "redis://127.0.0.1:6379");
  const db = Number(url.pathname.replace(/^\//, "") || "0");
  return {
    ...endpoint(url),
    ...credentials(url),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
  };
}

function endpoint(url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || "6379") };
}

/** User, password and TLS from a URL. */
function credentials(url: URL): RedisOptions {
  const { host } = endpoint(url);
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    // SNI takes a name only (Node warns on every connection given an IP address); the
    // certificate is checked against the host either way.
    ...(url.protocol === "rediss:" ? { tls: isIP(host) ? {} : { servername: host } } : {}),
  };
}

export interface ClientTimings {
  /** A command without a reply after this long fails (and the request with it). */
  commandTimeoutMs: number;
  /** Longest wait between two reconnection attempts. */
  maxRetryDelayMs: number;
}

/**
 * One client. `role` names it in logs and in `CLIENT LIST`. Commands never wait in an offline
 * queue and are never resent after a reconnection: a request fails at once while Redis is away,
 * so a caller is told `UNAVAILABLE` rather than kept waiting or, worse, told `ok` later.
 */
export function createClient(
  target: RedisTarget,
  role: "command" | "subscriber" | "probe",
  timings: ClientTimings,
  logger: BackendLogger,
): RedisClient {
  if (target.cluster?.length) return createClusterClient(target.cluster, role, timings, logger);
  const client = new Redis({
    ...targetOptions(target),
    lazyConnect: true,
    connectionName: `chat-server:${role}`,
    connectTimeout: Math.max(1000, timings.commandTimeoutMs),
    commandTimeout: timings.commandTimeoutMs,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), timings.maxRetryDelayMs),
    // A demoted master answers READONLY: reconnect, and Sentinel leads to the new master.
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
    enableOfflineQueue: role === "subscriber",
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The subscriber (re)subscribes itself on every `ready`, to know when it is done.
    autoResubscribe: false,
    enableAutoPipelining: role === "command",
  });
  logErrors(client, role, logger);
  return client;
}

/**
 * A Cluster client: slots are learnt from the seeds, MOVED/ASK followed, and a command to a
 * master that fails is retried on the slot's new owner once the cluster promoted a replica
 * (ioredis refreshes the slot map on the error). The subscriber uses sharded subscribers:
 * one connection per master, each SSUBSCRIBEd to the channels of its slots, moved along with
 * them when the cluster changes.
 */
function createClusterClient(
  seeds: string[],
  role: "command" | "subscriber" | "probe",
  timings: ClientTimings,
  logger: BackendLogger,
): Cluster {
  const urls = seeds.map(toUrl);
  const first = urls[0] as URL;
  const options: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: role === "subscriber",
    // No automatic pipelines: ioredis would group a script whose key count varies by its first
    // argument (the count), not its first key, and send keys of other slots in one pipeline.
    // Commands still share each node's connection without waiting for one another.
    enableAutoPipelining: false,
    shardedSubscribers: role === "subscriber",
    // Keeps trying to reach the cluster however long it is away (the default gives up).
    clusterRetryStrategy: (times) => Math.min(100 * times, timings.maxRetryDelayMs),
    // A node that closed is reconnected too (a restarted replica that kept its slots).
    clusterNodeRetryStrategy: (times) => Math.min(100 * times, timings.maxRetryDelayMs),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: Math.max(1000, timings.commandTimeoutMs),
    slotsRefreshInterval: 2000,
    redisOptions: {
      ...credentials(first),
      connectionName: `chat-server:${role}`,
      connectTimeout: Math.max(1000, timings.commandTimeoutMs),
      commandTimeout: timings.commandTimeoutMs,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    },
  };
  const client = new Cluster(urls.map(endpoint), options);
  logErrors(client, role, logger);
  // Per-node errors (a killed master) come as "node error"; they repeat while it is down.
  client.on("node error", (err: Error, node: string) => {
    logger.debug({ role, node, err: err.message }, "redis cluster node error");
  });
  return client;
}

/** Logs each error once at warn while it repeats (a reconnection loop), then again at debug. */
function logErrors(client: RedisClient, role: string, logger: BackendLogger): void {
  let last = "";
  client.on("error", (err: Error) => {
    const text = err.message;
    if (text === last) {
      logger.debug({ role, err: text }, "redis connection error");
      return;
    }
    last = text;
    logger.warn({ role, err: text }, "redis connection error");
  });
  client.on("ready", () => {
    last = "";
  });
}

export type ScriptCall = (keys: string[], args: (string | number)[]) => Promise<unknown>;

/**
 * Registers a Lua script on the client (EVALSHA, falling back to EVAL once per connection) and
 * returns a typed way to call it; calls join ioredis's automatic pipeline like any command.
 * `numberOfKeys` "any" is for scripts whose key count varies by call (a batch).
 */
export function defineScript(
  client: RedisClient,
  name: string,
  numberOfKeys: number | "any",
  lua: string,
): ScriptCall {
  client.defineCommand(name, numberOfKeys === "any" ? { lua } : { numberOfKeys, lua });
  const command = (client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[
    name
  ];
  if (!command) throw new Error(`script ${name} was not defined`);
  return (keys, args) => {
    if (numberOfKeys === "any") return command.call(client, keys.length, ...keys, ...args);
    if (keys.length !== numberOfKeys) throw new Error(`script ${name} takes ${numberOfKeys} keys`);
    return command.call(client, ...keys, ...args);
  };
}

/**
 * Checks, before any worker starts, that Redis answers: connects (retrying while `timeoutMs`
 * lasts, so a Redis that is starting too is waited for), PINGs, and disconnects. Rejects with
 * one line naming the address: `cannot reach Redis at 127.0.0.1:6390: connect ECONNREFUSED …`.
 */
export async function probeRedis(target: RedisTarget, timeoutMs = 5000): Promise<void> {
  const timings = { commandTimeoutMs: Math.min(timeoutMs, 3000), maxRetryDelayMs: 500 };
  const client = createClient(target, "probe", timings, silentLogger);
  let lastError: Error | undefined;
  client.on("error", (err: Error) => {
    lastError = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = new Promise<boolean>((resolve) => client.once("ready", () => resolve(true)));
    client.connect().catch(() => {});
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    if (!(await Promise.race([ready, timeout]))) {
      throw new Error(lastError?.message ?? `no answer within ${timeoutMs} ms`);
    }
    await client.ping();
  } catch (err) {
    throw new Error(`cannot reach Redis at ${describeTarget(target)}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
