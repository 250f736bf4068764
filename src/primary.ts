/**
 * The primary process: listens (or, where workers accept themselves, routes what they hand up:
 * accept-mode.ts), balances connections over the workers with sticky sessions,
 * holds presence and inboxes in embedded mode, answers health and metrics, and coordinates
 * signals (SIGTERM/SIGINT drain, SIGHUP rolling restart).
 */
import cluster from "node:cluster";
import http from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { chooseAcceptMode } from "./cluster/accept-mode.js";
import { AddressLimiter } from "./cluster/address-limiter.js";
import { forgetDeadWorkersPresence } from "./cluster/dead-worker-presence.js";
import { FallbackListener } from "./cluster/fallback-listener.js";
import { createPeerDirectory, removePeerDirectory } from "./cluster/peer-directory.js";
import { refusedForAddress, StickyBalancer } from "./cluster/sticky-balancer.js";
import { WorkerPool } from "./cluster/worker-pool.js";
import { ConfigError, isMultiHost, type ServerConfig } from "./config.js";
import { createPrimaryRoutes } from "./http/primary-routes.js";
import { listen as listenOn } from "./listen.js";
import { createLogger } from "./logger.js";
import { PrimaryMetrics } from "./metrics/primary-metrics.js";
import { StoreOpenError } from "./store/chat-store.js";
import { survivesFailedCommits } from "./store/commit-errors.js";
import { type HeldDirectory, holdDataDirectory } from "./store/data-directory.js";
import { StoreKeeper } from "./store/store-keeper.js";

export interface RunningPrimary {
  port: number;
  shutdown(): Promise<void>;
}

export async function runPrimary(config: Readonly<ServerConfig>): Promise<RunningPrimary> {
  const logger = createLogger(config.logLevel, "primary");
  if (isMultiHost(config)) await checkRedis(config);
  if (config.authSecret === undefined) {
    logger.warn("no --auth-secret: anyone can log in as any username (development mode)");
  }
  cluster.setupPrimary({
    exec: fileURLToPath(new URL("./worker-start.js", import.meta.url)),
    args: [],
    // A worker's young generation otherwise grows to 2 x 16 MB as sessions pile up: 8 MB
    // semi-spaces save ~16 MB per worker (~1 KB per session at 15,000) at no measurable CPU
    // cost per message (bench dm). Flags given to node come after, so they win.
    execArgv: ["--max-semi-space-size=8", ...process.execArgv],
    serialization: "json",
  });
  // Embedded mode: the data directory is checked and held before anything listens, and the
  // workers' peer sockets live in a directory only this user can enter.
  const storage = isMultiHost(config) ? undefined : await openStorage(config, logger);
  const peerDir = storage ? await createPeerDirectory() : undefined;
  const acceptMode = chooseAcceptMode();
  const workerEnv: NodeJS.ProcessEnv = {
    CHAT_SERVER_CONFIG: JSON.stringify(config),
    CHAT_PEER_DIR: peerDir,
    CHAT_STORE_FILE: storage?.held.file,
    CHAT_ACCEPT_MODE: acceptMode,
    // CHAT_LISTEN_PORT is added once the port is known (`--port 0` picks one), before any fork.
  };
  const pool = new WorkerPool(config.workers, workerEnv, logger, config.workerStallTimeout * 1000);
  pool.on("unstartable", (reason) => {
    logger.fatal({ reason }, "workers keep failing before they are ready; exiting");
    if (peerDir) removePeerDirectory(peerDir);
    console.error(`chat-server: the workers cannot start: ${reason}`);
    process.exit(1);
  });
  if (storage) clearDeadWorkersPresence(pool, storage.keeper, logger);
  else forgetDeadWorkersPresence(pool);
  const metrics = new PrimaryMetrics(pool, storage?.keeper, acceptMode);
  let draining = false;

  const local = http.createServer(
    createPrimaryRoutes({
      notReadyReason: () => {
        if (draining) return "draining";
        const ready = pool.all().filter((w) => w.state === "ready");
        if (ready.length === 0) return "no worker ready";
        if (ready.some((w) => !w.backendReady)) return "storage unreachable";
        return undefined;
      },
      overAddressLimit: (req) => refusedForAddress.has(req.socket),
      metrics: async () => ({ contentType: metrics.contentType, body: await metrics.scrape() }),
    }),
  );
  const limiter = new AddressLimiter(config.maxConnectionsPerIp);
  pool.on("message", (worker, message, handle) => {
    if (message.t === "released") {
      for (const a of message.addresses) limiter.release(a, worker.id);
    } else if (message.t === "admit") {
      const results = message.addresses.map((address) => {
        const admitted = limiter.admit(address, worker.id);
        if (!admitted) metrics.limitHit("connections_per_ip");
        return admitted;
      });
      pool.send(worker, { t: "admitted", results });
    } else if (message.t === "up" && handle instanceof net.Socket) {
      handle.on("error", () => handle.destroy());
      balancer.route(handle, Buffer.from(message.head, "latin1"));
    }
  });
  pool.on("exit", (workerId) => limiter.workerGone(workerId));
  const balancer = new StickyBalancer({
    pool,
    local,
    logger,
    limiter,
    isDraining: () => draining,
    headTimeoutMs: config.requestHeadTimeout * 1000,
    onLimit: (limit) => metrics.limitHit(limit),
    onRoute: () => metrics.routedConnection(),
    onWaitingRoomEmpty: () => syncFallback(),
  });
  metrics.countWaitingSessions(() => balancer.waitingRoom.size);
  // Where workers accept: the primary listens while no worker can, and until every session
  // that waited for one is let in (leaving the port earlier would reset what it has queued).
  let fallback: FallbackListener | undefined;
  const syncFallback = () =>
    void fallback?.need(draining || pool.readyCount() === 0 || balancer.waitingRoom.size > 0);
  pool.on("change", syncFallback);
  // TCP_NODELAY is set on the listening side so handed-over sockets keep it in the worker.
  const server = net.createServer({ noDelay: true }, (socket) => balancer.handle(socket));
  const shutdown = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    const timeoutMs = config.shutdownTimeout * 1000;
    logger.info({ timeoutMs }, "draining");
    // Listening before the workers leave the port: the load balancer keeps reading 503.
    await fallback?.need(true);
    const force = setTimeout(() => {
      logger.warn("shutdown timeout reached; exiting");
      process.exit(0);
    }, timeoutMs);
    force.unref();
    // Leave a margin so the process is gone within the timeout even if workers must be killed.
    await pool.stop(Math.max(100, timeoutMs - 500));
    await storage?.keeper.close();
    storage?.held.release();
    if (peerDir) removePeerDirectory(peerDir);
    server.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown());
  process.once("SIGINT", () => void shutdown());
  process.on("SIGHUP", () => {
    logger.info("SIGHUP: rolling restart of the workers");
    pool.rollingRestart().then(
      () => logger.info("rolling restart done"),
      (error) => logger.error({ err: error }, "rolling restart failed"),
    );
  });
  const port = await listen(server, config, acceptMode === "workers");
  workerEnv.CHAT_LISTEN_PORT = String(port);
  if (acceptMode === "workers") fallback = new FallbackListener(server, port, config.host, logger);
  logger.info(
    {
      host: config.host,
      port,
      workers: config.workers,
      mode: storage ? "embedded" : "redis",
      accept: acceptMode,
    },
    "listening",
  );

  await pool.start();
  if (pool.readyCount() > 0) logger.info({ ready: pool.readyCount() }, "all workers started");

  return { port, shutdown };
}

/** Holds and opens the data directory; a one-line `ConfigError` naming the path if it cannot. */
async function openStorage(
  config: ServerConfig,
  logger: Logger,
): Promise<{ held: HeldDirectory; keeper: StoreKeeper }> {
  const directory = config.dataDir ?? "chat-data";
  let held: HeldDirectory | undefined;
  survivesFailedCommits();
  try {
    held = await holdDataDirectory(directory);
    const keeper = new StoreKeeper({
      file: held.file,
      maxBytes: config.maxDataMb * 1024 * 1024,
      logger,
    });
    await keeper.open();
    logger.info({ dataDir: held.directory, syncAcks: config.syncAcks }, "data directory");
    return { held, keeper };
  } catch (error) {
    held?.release();
    if (error instanceof StoreOpenError) throw new ConfigError(`--data-dir: ${error.message}`);
    throw error;
  }
}

/** A worker is gone: its presence and watches leave the store, and its users' watchers learn. */
function clearDeadWorkersPresence(pool: WorkerPool, keeper: StoreKeeper, logger: Logger): void {
  pool.on("exit", (workerId) => {
    keeper.workerGone(workerId).then(
      (offline) => {
        for (const [watcher, users] of offline) {
          const worker = pool.get(watcher);
          if (worker) pool.send(worker, { t: "offline", users });
        }
      },
      (error: Error) => logger.warn({ err: error.message }, "could not clear a worker's presence"),
    );
  });
}

/** An unreachable Redis at start-up is a user mistake: one line naming the address, exit 1. */
async function checkRedis(config: ServerConfig): Promise<void> {
  try {
    // Loaded only here, in multi-host mode: an embedded host never carries the Redis client.
    const { probeRedis } = await import("./redis/connection.js");
    await probeRedis(
      {
        url: config.redisUrl,
        sentinels: config.redisSentinels,
        masterName: config.redisMaster,
        cluster: config.redisCluster,
      },
      config.redisCluster ? 10_000 : 5000,
    );
  } catch (error) {
    const option = config.redisCluster
      ? "--redis-cluster"
      : config.redisSentinels
        ? "--redis-sentinels"
        : "--redis";
    throw new ConfigError(`${option}: ${(error as Error).message}`);
  }
}

/**
 * Listens on `--host`/`--port`; a one-line `ConfigError` if that is not possible. With
 * `reusePort` (the workers will listen too) the port is first bound alone, so that a port held
 * by anyone, another chat-server included, is an error rather than shared.
 */
async function listen(
  server: net.Server,
  config: ServerConfig,
  reusePort: boolean,
): Promise<number> {
  let port = config.port;
  if (reusePort) {
    const probe = net.createServer((socket) => socket.destroy());
    port = await listenOnce(probe, config, false);
    await new Promise((resolve) => probe.close(resolve));
  }
  return listenOnce(server, { ...config, port }, reusePort);
}

async function listenOnce(
  server: net.Server,
  config: ServerConfig,
  reusePort: boolean,
): Promise<number> {
  try {
    // The primary only routes connections; a large backlog absorbs reconnect storms.
    await listenOn(server, { port: config.port, host: config.host, backlog: 4096, reusePort });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const why =
      code === "EADDRINUSE"
        ? "the port is in use"
        : code === "EACCES"
          ? "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
          : code === "EADDRNOTAVAIL"
            ? "no such local address"
            : message;
    throw new ConfigError(`--port/--host: cannot listen on ${config.host}:${config.port}: ${why}`);
  }
  const address = server.address();
  return typeof address === "object" && address ? address.port : config.port;
}
