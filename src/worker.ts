/**
 * A Socket.IO worker: an HTTP server that never listens itself (its connections come from the
 * primary, or from the worker's own listener on the shared port: accept-mode.ts), Socket.IO on
 * top, and the chat service wired to a back-end.
 */
import cluster from "node:cluster";
import http from "node:http";
import { Socket as NetSocket } from "node:net";
import type { ServerOptions } from "socket.io";
import { Server } from "socket.io";
import { createTokenVerifier } from "./chat/auth.js";
import { ChatService, type ChatSocket } from "./chat/chat-service.js";
import type { AcceptMode } from "./cluster/accept-mode.js";
import { AdmissionRequests } from "./cluster/admission-requests.js";
import { isMessage, type PrimaryToWorker, type WorkerToPrimary } from "./cluster/ipc.js";
import { createSessionId } from "./cluster/session-id.js";
import { exitWithStartFailure } from "./cluster/start-failure.js";
import { WorkerListener } from "./cluster/worker-listener.js";
import type { ServerConfig } from "./config.js";
import { NoRoomsAdapter } from "./http/no-rooms-adapter.js";
import { oneRequestPerConnection } from "./http/one-request-per-connection.js";
import { createStaticHandler } from "./http/static-files.js";
import { createLogger } from "./logger.js";
import { addEmbeddedMetrics } from "./metrics/embedded-metrics.js";
import { createWorkerMetrics } from "./metrics/worker-metrics.js";
import type { ClientToServerEvents, ServerToClientEvents } from "./protocol.js";
import { createBackend } from "./routing/create-backend.js";
import { TurnBatcher } from "./routing/turn-batcher.js";

const LOAD_REPORT_MS = 1000;
/** How often every connection's unsent output is checked (sends check their own at once). */
const UNSENT_SWEEP_MS = 1000;
const DRAIN_FLUSH_MS = 2000;

const config = JSON.parse(process.env.CHAT_SERVER_CONFIG ?? "{}") as ServerConfig;
const workerId = cluster.worker?.id ?? 0;
/** Set by the primary: whether this worker accepts on the port itself, and which port. */
const acceptMode = (process.env.CHAT_ACCEPT_MODE ?? "primary") as AcceptMode;
const listenPort = Number(process.env.CHAT_LISTEN_PORT ?? config.port);
const logger = createLogger(config.logLevel, workerId);

function tell(message: WorkerToPrimary): void {
  if (process.connected) process.send?.(message);
}

/** Socket.IO's frame limit: the largest message, escaped as JSON, plus the envelope. */
function maxFrameBytes(maxMessageBytes: number): number {
  return maxMessageBytes * 6 + 16 * 1024;
}

function corsOption(origins: string[] | undefined): ServerOptions["cors"] {
  if (!origins) return undefined;
  return { origin: origins.includes("*") ? true : origins, credentials: true };
}

const httpServer = http.createServer(createStaticHandler());
const io = new Server<ClientToServerEvents, ServerToClientEvents, object, ChatSocket["data"]>(
  httpServer,
  {
    maxHttpBufferSize: maxFrameBytes(config.maxMessageBytes),
    cors: corsOption(config.corsOrigin),
    adapter: NoRoomsAdapter,
  },
);
io.engine.generateId = () => createSessionId(workerId);
// Every request must come back through a balancer (the primary's, or the listener of whichever
// worker accepts it), which routes it to the worker of its session: no keep-alive. (Added
// after Socket.IO, which wraps the listeners present before it.)
httpServer.prependListener("request", (_req, res) => res.setHeader("Connection", "close"));

const { backend, embedded, redis } = await createBackend(config, workerId, logger);
const metrics = createWorkerMetrics({
  connectedSockets: () => io.engine.clientsCount,
  loggedInUsers: () => chat.onlineUserCount(),
  watchedUsers: () => chat.watches.watchedUserCount(),
  backendUp: () => backend.isReady(),
});
if (embedded) addEmbeddedMetrics(metrics.registry, embedded);
const chat = new ChatService({
  metrics: metrics.chat,
  backend,
  logger,
  maxMessageBytes: config.maxMessageBytes,
  rateLimit: config.rateLimit,
  verifyToken: config.authSecret ? createTokenVerifier(config.authSecret) : undefined,
  limits: {
    maxUnsentBytes: config.maxUnsentBytes,
    maxSessionsPerUser: config.maxSessionsPerUser,
    maxStoredBytesPerUser: config.maxStoredBytesPerUser,
    maxConcurrentReplays: config.maxConcurrentReplays,
  },
});
oneRequestPerConnection(httpServer, () => metrics.chat.limitHit("pipelined_request"));
// Acks, errors and anything else a connection is sent are caught here within a second.
setInterval(() => {
  for (const socket of io.of("/").sockets.values()) chat.limits.unsent.check(socket);
}, UNSENT_SWEEP_MS).unref();
let draining = false;
/** New-session requests handed to this worker so far, for the primary's load accounting. */
let handshakesReceived = 0;

process.on("message", (message: unknown, handle: unknown) => {
  if (!isMessage<PrimaryToWorker>(message)) return;
  switch (message.t) {
    case "conn":
      if (!(handle instanceof NetSocket)) return;
      if (draining) {
        handle.destroy();
        return;
      }
      if (message.fresh) handshakesReceived++;
      if (message.counted) trackCountedHandshake(handle, handle.remoteAddress ?? "");
      httpServer.emit("connection", handle);
      handle.unshift(Buffer.from(message.head, "latin1"));
      break;
    case "admitted":
      admissions?.answer(message.results);
      break;
    case "offline":
      embedded?.receive(message.users.map((user) => ["p", user, 0]));
      break;
    case "drain":
      void drain();
      break;
    case "forget":
      redis?.forgetWorker(message.presenceKey).then(
        (users) =>
          logger.info({ deadWorker: message.presenceKey, users }, "dead worker's users offline"),
        (error: Error) =>
          logger.warn({ err: error.message }, "could not clear a dead worker's presence"),
      );
      break;
    case "metrics":
      void metrics.registry
        .getMetricsAsJSON()
        .then((json) => tell({ t: "metrics", ref: message.ref, metrics: json }));
      break;
  }
});

// The primary coordinates shutdown: Ctrl-C in a terminal signals the whole process group, and
// workers must not die before the primary drains them. A worker whose primary is gone exits.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => void drain());
// (A worker whose primary is gone is ended by worker-start.ts.)

let started = false;
process.on("uncaughtException", (error) => {
  logger.fatal({ err: error }, "uncaught exception; worker exits");
  if (!started) exitWithStartFailure(error);
  // Not process.exit: it could hang joining the store's writer thread, mid-transaction and
  // holding the host's write lock (worker-start.ts). The log line above is written already
  // (pino writes synchronously); the primary replaces a worker however it died.
  else process.kill(process.pid, "SIGKILL");
});

io.on("connection", (socket) => chat.attach(socket));

/**
 * Sessions the primary counted against their address's limit: tell it when each ends, or when
 * the handshake's connection closed without starting one.
 */
const countedHandshakes = new Map<NetSocket, string>();
const released = new TurnBatcher<string>((addresses) => tell({ t: "released", addresses }));
function trackCountedHandshake(socket: NetSocket, address: string): void {
  if (socket.destroyed) {
    released.push(address);
    return;
  }
  countedHandshakes.set(socket, address);
  socket.once("close", () => {
    if (countedHandshakes.delete(socket)) released.push(address);
  });
}
const admissions =
  acceptMode === "workers" && config.maxConnectionsPerIp > 0
    ? new AdmissionRequests((addresses) => tell({ t: "admit", addresses }))
    : undefined;
const listener =
  acceptMode === "workers"
    ? new WorkerListener({
        workerId,
        port: listenPort,
        host: config.host,
        http: httpServer,
        headTimeoutMs: config.requestHeadTimeout * 1000,
        maxConnectionsPerIp: config.maxConnectionsPerIp,
        admissions,
        onCounted: trackCountedHandshake,
        handUp: (socket, bytes, done) => {
          if (!process.connected || !process.send) return done(new Error("no primary"));
          process.send(
            { t: "up", head: bytes.toString("latin1") } satisfies WorkerToPrimary,
            socket,
            { keepOpen: false },
            done,
          );
        },
        onLimit: (limit) => metrics.chat.limitHit(limit),
      })
    : undefined;
io.engine.on(
  "connection",
  (session: { request: http.IncomingMessage; once(e: "close", f: () => void): void }) => {
    const address = countedHandshakes.get(session.request.socket as NetSocket);
    if (address === undefined) return;
    countedHandshakes.delete(session.request.socket as NetSocket);
    session.once("close", () => released.push(address));
  },
);

try {
  await backend.start();
} catch (error) {
  logger.fatal({ err: error }, "back-end unreachable");
  throw new Error(`storage back-end cannot start: ${(error as Error).message}`);
}
backend.onReadyChange((ready) => tell({ t: "backend", ready }));
// Ready means reachable: in the `workers` accept mode, listening on the port.
await listener?.listen();
setInterval(
  () => tell({ t: "load", connections: io.engine.clientsCount, handshakes: handshakesReceived }),
  LOAD_REPORT_MS,
).unref();
tell({ t: "ready", presenceKey: redis?.worker });
started = true;

/**
 * Closes every client's transport (not its Socket.IO session), which makes Socket.IO clients
 * reconnect by themselves: behind HAProxy, to a host that is still ready.
 */
async function drain(): Promise<void> {
  if (draining) return;
  draining = true;
  // New connections go to the other listeners (or the primary's) from now on.
  listener?.close();
  logger.info({ clients: io.engine.clientsCount }, "draining");
  // Acknowledge what was accepted before closing, so clients do not send it again elsewhere.
  backend.flush?.();
  await chat.answered(DRAIN_FLUSH_MS / 2);
  for (const socket of io.of("/").sockets.values()) socket.conn.close();
  const deadline = Date.now() + DRAIN_FLUSH_MS;
  while (io.engine.clientsCount > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await backend.close();
  process.exit(0);
}
