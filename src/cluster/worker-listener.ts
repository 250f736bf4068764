/**
 * A worker's own listener, in the `workers` accept mode (accept-mode.ts): the worker accepts on
 * the shared port (`SO_REUSEPORT`), reads the request head with the same bounds as the primary,
 * and then either serves the connection itself or hands it up to the primary, which routes it
 * like a connection it accepted (sticky-balancer.ts):
 *
 * - a request of a session held by another worker (long polling) goes up, to that worker;
 * - `/readyz`, `/healthz` and `/metrics` go up: they describe the whole host;
 * - a new session is served here, once the primary has counted it against its address's limit;
 * - while this worker drains, everything goes up, to the other workers.
 */
import type { Server as HttpServer } from "node:http";
import net, { type Socket } from "node:net";
import { listen } from "../listen.js";
import { AddressLimiter } from "./address-limiter.js";
import type { AdmissionRequests } from "./admission-requests.js";
import { type ConnectionLimit, detachForHandOff, readRequestHead, refuse } from "./head-reader.js";
import { isNewSession, isPrimaryPath, parseRequestHead } from "./request-head.js";
import { workerIdOfSession } from "./session-id.js";

/** Connections handed up to the primary and not yet taken, at most (then 503, retry later). */
export const MAX_HAND_UPS_IN_FLIGHT = 256;
/** New sessions waiting for the primary's count of their address, at most (then 503). */
const MAX_ADMISSIONS_WAITING = 4096;

export interface WorkerListenerOptions {
  workerId: number;
  port: number;
  host: string;
  /** The worker's HTTP server (Socket.IO's), which never listens itself. */
  http: HttpServer;
  headTimeoutMs: number;
  /** `--max-connections-per-ip`: heads in progress here, and sessions over the host. */
  maxConnectionsPerIp: number;
  /** Counts new sessions per address with the primary; undefined when there is no limit. */
  admissions: AdmissionRequests | undefined;
  /** A new session that the primary counted started here: release it when it ends. */
  onCounted: (socket: Socket, address: string) => void;
  /** Passes a connection to the primary with the bytes read from it; `done` when taken. */
  handUp: (socket: Socket, bytes: Buffer, done: (error: Error | null) => void) => void;
  onLimit: (limit: ConnectionLimit) => void;
}

export class WorkerListener {
  private readonly server: net.Server;
  private readonly heads: AddressLimiter;
  private handUpsInFlight = 0;
  private draining = false;

  constructor(private readonly options: WorkerListenerOptions) {
    this.heads = new AddressLimiter(options.maxConnectionsPerIp);
    this.server = net.createServer({ noDelay: true }, (socket) =>
      readRequestHead(
        socket,
        { limiter: this.heads, headTimeoutMs: options.headTimeoutMs, onLimit: options.onLimit },
        (head) => this.route(socket, head),
      ),
    );
  }

  /** Joins the port's listeners; the kernel spreads new connections over all of them. */
  listen(): Promise<void> {
    const { port, host } = this.options;
    // `exclusive`: a worker's own socket, not one shared through the primary by node:cluster.
    return listen(this.server, { port, host, reusePort: true, exclusive: true, backlog: 4096 });
  }

  /** Leaves the port to the other listeners; connections accepted already are still routed. */
  close(): void {
    this.draining = true;
    this.server.close();
  }

  private route(socket: Socket, head: Buffer): void {
    const request = parseRequestHead(head);
    // Not HTTP at all: the HTTP parser answers it with its own 400, here.
    if (request === undefined) {
      this.serve(socket, head);
      return;
    }
    if (this.draining || isPrimaryPath(request.path) || !this.isOwn(request.sid)) {
      this.handUp(socket, head);
      return;
    }
    const { admissions } = this.options;
    if (!isNewSession(request) || admissions === undefined) {
      this.serve(socket, head);
      return;
    }
    if (admissions.pending >= MAX_ADMISSIONS_WAITING) {
      this.options.onLimit("handoff_backlog");
      refuse(socket, "503 Service Unavailable");
      return;
    }
    const address = socket.remoteAddress ?? "";
    socket.pause();
    void admissions.ask(address).then((admitted) => {
      if (!admitted) {
        refuse(socket, "429 Too Many Requests", "too many connections from this address\n");
        return;
      }
      this.options.onCounted(socket, address);
      this.serve(socket, head);
    });
  }

  /** A new session (no `sid` yet) or one this worker holds. */
  private isOwn(sid: string | undefined): boolean {
    return sid === undefined || workerIdOfSession(sid) === this.options.workerId;
  }

  private serve(socket: Socket, head: Buffer): void {
    this.options.http.emit("connection", socket);
    socket.unshift(head);
    socket.resume();
  }

  private handUp(socket: Socket, head: Buffer): void {
    if (this.handUpsInFlight >= MAX_HAND_UPS_IN_FLIGHT) {
      this.options.onLimit("handoff_backlog");
      refuse(socket, "503 Service Unavailable");
      return;
    }
    const bytes = detachForHandOff(socket, head);
    this.handUpsInFlight++;
    this.options.handUp(socket, bytes, (error) => {
      this.handUpsInFlight--;
      if (error) socket.destroy();
    });
  }
}
