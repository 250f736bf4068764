/**
 * The primary's connection balancer. It reads each new connection's request head (or takes one a
 * worker read and handed up: worker-listener.ts), picks a worker (the one named in the Engine.IO
 * `sid`, else the least-loaded ready one), stops reading, and hands the socket itself to that
 * worker with the bytes already read. The worker's own HTTP parser takes it from there, so no
 * request body or response ever flows through the primary.
 *
 * Workers answer with `Connection: close`, so every HTTP request of a long-polling session comes
 * back through a balancer and reaches the worker holding the session.
 */
import type { Server as HttpServer } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { AddressLimiter } from "./address-limiter.js";
import { type ConnectionLimit, detachForHandOff, readRequestHead, refuse } from "./head-reader.js";
import { isNewSession, isPrimaryPath, parseRequestHead } from "./request-head.js";
import { workerIdOfSession } from "./session-id.js";
import { WaitingRoom } from "./waiting-room.js";
import type { PooledWorker, WorkerPool } from "./worker-pool.js";

/**
 * New sessions waiting to be handed to one worker, at most. In a reconnect storm a worker busy
 * with log-ins acknowledges hand-offs slowly; past this many, a new session waits in the
 * waiting room, which is bounded in number and time (then 503: clients retry after their
 * back-off). A queue without a bound held ~18,000 sockets in the primary here, most of them
 * given up by their clients before their turn came.
 */
export const MAX_HANDOFFS_IN_FLIGHT = 256;

export interface BalancerOptions {
  pool: WorkerPool;
  /** The primary's own HTTP server: health, metrics, and 503 when no worker can take a client. */
  local: HttpServer;
  logger: Logger;
  /** While draining, no new session is started here. */
  isDraining: () => boolean;
  limiter: AddressLimiter;
  /** Time from accept to a complete request head; then 408 and close (not reset by bytes). */
  headTimeoutMs: number;
  /** Told each time a connection is refused by a limit (the `limit` label of the metric). */
  onLimit: (limit: ConnectionLimit) => void;
  /** Told of each connection routed, whoever accepted it. */
  onRoute: () => void;
  /** Told when the last new session waiting for a worker has been let in. */
  onWaitingRoomEmpty?: () => void;
}

/** Whether a worker's queue of hand-offs takes another new session. */
function hasRoom(worker: PooledWorker): boolean {
  return worker.handoffsInFlight < MAX_HANDOFFS_IN_FLIGHT;
}

/** Connections the primary answers 429 because their address holds too many sessions. */
export const refusedForAddress = new WeakSet<Socket>();

export class StickyBalancer {
  /** New sessions that no worker can take yet (none ready, or every hand-off queue full). */
  readonly waitingRoom: WaitingRoom;

  constructor(private readonly options: BalancerOptions) {
    this.waitingRoom = new WaitingRoom((socket) => this.refuseNewSession(socket));
    options.pool.on("change", () => this.letIn());
  }

  /**
   * Hands waiting new sessions to ready workers, as many as their hand-off queues take: the
   * rest wait for hand-offs to complete (a whole room at once would overflow those queues).
   */
  private letIn(): void {
    if (this.waitingRoom.size === 0) return;
    while (this.waitingRoom.size > 0) {
      if (!this.options.pool.pickLeastLoaded(hasRoom)) return;
      const [socket, head] = this.waitingRoom.next() ?? [];
      if (socket && head) this.send(socket, head);
    }
    this.options.onWaitingRoomEmpty?.();
  }

  /** A connection the primary accepted itself. */
  handle(socket: Socket): void {
    readRequestHead(socket, this.options, (head) => this.route(socket, head));
  }

  /**
   * Sends a connection whose request head has been read (here, or by a worker that accepted it
   * and found it was not its own) to the worker it belongs to.
   */
  route(socket: Socket, head: Buffer): void {
    this.options.onRoute();
    this.send(socket, head);
  }

  private send(socket: Socket, head: Buffer): void {
    const request = parseRequestHead(head);
    const target = request && !isPrimaryPath(request.path) ? this.pick(request.sid) : undefined;
    const fresh = isNewSession(request);
    if (!target) {
      // No worker can take a new session now (none ready, or each one's hand-off queue full):
      // it waits its turn, or, past the waiting room's bounds, gets 503.
      const draining = this.options.isDraining();
      if (fresh && !draining && this.waitingRoom.enter(socket, head)) return;
      if (fresh && !draining) this.refuseNewSession(socket);
      else this.serveLocally(socket, head);
      return;
    }
    const address = socket.remoteAddress ?? "";
    const counted = fresh && this.options.limiter.enabled;
    if (counted && !this.options.limiter.admit(address, target.id)) {
      this.options.onLimit("connections_per_ip");
      refusedForAddress.add(socket);
      this.serveLocally(socket, head);
      return;
    }
    if (fresh) target.handshakesSent++;
    const bytes = detachForHandOff(socket, head);
    target.handoffsInFlight++;
    target.worker.send(
      { t: "conn", head: bytes.toString("latin1"), fresh, counted },
      socket,
      { keepOpen: false },
      (error) => {
        target.handoffsInFlight--;
        this.letIn();
        if (error) {
          this.options.logger.debug({ err: error }, "hand-off failed");
          if (counted) this.options.limiter.release(address, target.id);
          socket.destroy();
        }
      },
    );
  }

  /** The worker for a request: the session's own, else the least-loaded ready one. */
  private pick(sid: string | undefined): PooledWorker | undefined {
    const { pool } = this.options;
    if (sid) {
      const owner = workerIdOfSession(sid);
      const worker = owner === undefined ? undefined : pool.get(owner);
      // A session whose worker is gone: any worker answers "unknown session" and the client
      // starts a new one.
      if (worker && worker.state !== "starting") return worker;
      return pool.pickLeastLoaded() ?? pool.all().find((w) => w.state === "draining");
    }
    if (this.options.isDraining()) return undefined;
    return pool.pickLeastLoaded(hasRoom);
  }

  /** Past the waiting room's bounds: 503, and the client tries again after its back-off. */
  private refuseNewSession(socket: Socket): void {
    this.options.onLimit("handoff_backlog");
    refuse(socket, "503 Service Unavailable");
  }

  private serveLocally(socket: Socket, head: Buffer): void {
    this.options.local.emit("connection", socket);
    socket.unshift(head);
    socket.resume();
  }
}
