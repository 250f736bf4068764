/**
 * Forks the Socket.IO workers, replaces those that die (with back-off when they keep dying),
 * replaces them one at a time on a rolling restart, and drains them on shutdown.
 * Only workers that said "ready" get new sessions, so no connection lands on a starting worker.
 * Workers that keep dying before they ever become ready (a broken install, an unsupported
 * runtime) are not replaced forever: the pool gives up with their reason (`unstartable`).
 */
import cluster, { type Worker } from "node:cluster";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { isMessage, type PrimaryToWorker, type WorkerToPrimary } from "./ipc.js";

export type WorkerState = "starting" | "ready" | "draining";

export interface PooledWorker {
  id: number;
  worker: Worker;
  state: WorkerState;
  /** Sessions open at the worker's last report. */
  reportedSessions: number;
  /** New-session requests the worker had received at its last report. */
  reportedHandshakes: number;
  /** New-session requests handed to it by the balancer, ever. */
  handshakesSent: number;
  /**
   * Sockets handed to it whose hand-off has not completed: Node passes one socket at a time to
   * a worker and queues the rest, holding their descriptors, until the worker acknowledges.
   */
  handoffsInFlight: number;
  /** Whether its storage back-end is reachable (Redis mode). */
  backendReady: boolean;
  startedAt: number;
  /** When it last sent the primary anything (it reports its load every second). */
  lastHeardAt: number;
}

/** Sessions at the last report plus handshakes handed over that the report did not count yet. */
function sessionsOf(worker: PooledWorker): number {
  return worker.reportedSessions + (worker.handshakesSent - worker.reportedHandshakes);
}

const STABLE_AFTER_MS = 10_000;
/** How often the primary looks for stalled workers. */
const STALL_CHECK_MS = 500;
const MAX_BACKOFF_MS = 30_000;
const READY_TIMEOUT_MS = 30_000;
/** Workers in a row that died before becoming ready, with none ready, before giving up. */
const UNSTARTABLE_AFTER = 3;

export interface WorkerPoolEvents {
  /** With the handle (a socket) that came with the message, if any. */
  message: [worker: PooledWorker, message: WorkerToPrimary, handle: unknown];
  /** A worker is gone (crashed, killed or drained); its presence must be dropped. */
  exit: [workerId: number];
  change: [];
  /** Workers keep dying before they become ready and none is ready: the reason, one line. */
  unstartable: [reason: string];
}

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  private readonly workers = new Map<number, PooledWorker>();
  private crashStreak = 0;
  /** Workers in a row that died before they were ever ready. */
  private failedStarts = 0;
  private stopping = false;
  restarts = 0;

  constructor(
    private readonly size: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logger: Logger,
    /** A ready worker silent this long has a stuck event loop: it is killed and replaced. */
    private readonly stallTimeoutMs = 30_000,
  ) {
    super();
    // A stuck worker takes no hand-off, answers none of its clients and, where workers accept
    // on the port themselves, keeps getting its share of new connections from the kernel.
    setInterval(() => this.killStalled(), STALL_CHECK_MS).unref();
  }

  private lastStallCheckAt = Date.now();

  private killStalled(): void {
    const now = Date.now();
    const late = now - this.lastStallCheckAt > 2 * STALL_CHECK_MS;
    this.lastStallCheckAt = now;
    for (const w of this.workers.values()) {
      // The primary itself was held up (stopped, or busy): what the workers sent meanwhile is
      // still unread, so their silence says nothing yet.
      if (late) w.lastHeardAt = now;
      if (w.state !== "ready" || now - w.lastHeardAt <= this.stallTimeoutMs) continue;
      this.logger.error(
        { workerId: w.id, silentMs: now - w.lastHeardAt },
        "worker stalled (no word for longer than --worker-stall-timeout); killing it",
      );
      w.lastHeardAt = now; // once: its exit follows
      w.worker.process.kill("SIGKILL");
    }
  }

  /** Forks every worker; resolves when all are ready. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, () => this.fork()));
  }

  all(): PooledWorker[] {
    return [...this.workers.values()];
  }

  get(id: number): PooledWorker | undefined {
    return this.workers.get(id);
  }

  readyCount(): number {
    return this.all().filter((w) => w.state === "ready").length;
  }

  /** The ready worker with the fewest sessions (of those `eligible`), for a new client. */
  pickLeastLoaded(
    eligible: (worker: PooledWorker) => boolean = () => true,
  ): PooledWorker | undefined {
    let best: PooledWorker | undefined;
    for (const w of this.workers.values()) {
      if (w.state !== "ready" || !eligible(w)) continue;
      if (!best || sessionsOf(w) < sessionsOf(best)) best = w;
    }
    return best;
  }

  send(target: PooledWorker, message: PrimaryToWorker): void {
    if (target.worker.isConnected()) target.worker.send(message);
  }

  /** Replaces every worker, one at a time: the new one is ready before the old one drains. */
  async rollingRestart(): Promise<void> {
    for (const old of this.all()) {
      if (this.stopping) return;
      if (old.state !== "ready") continue;
      await this.fork();
      await this.drain(old, READY_TIMEOUT_MS);
    }
  }

  /** Drains every worker and waits for them to exit (killing stragglers after the timeout). */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    await Promise.all(this.all().map((w) => this.drain(w, timeoutMs)));
  }

  private async drain(target: PooledWorker, timeoutMs: number): Promise<void> {
    target.state = "draining";
    this.emit("change");
    const exited = new Promise<void>((resolve) => target.worker.once("exit", () => resolve()));
    this.send(target, { t: "drain" });
    const timer = setTimeout(() => {
      this.logger.warn({ workerId: target.id }, "worker did not drain in time; killing it");
      target.worker.process.kill("SIGKILL");
    }, timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  private fork(): Promise<void> {
    const worker = cluster.fork(this.env);
    let startFailure: string | undefined;
    const entry: PooledWorker = {
      id: worker.id,
      worker,
      state: "starting",
      reportedSessions: 0,
      reportedHandshakes: 0,
      handshakesSent: 0,
      handoffsInFlight: 0,
      backendReady: true,
      startedAt: Date.now(),
      lastHeardAt: Date.now(),
    };
    this.workers.set(worker.id, entry);
    return new Promise<void>((resolve) => {
      const readyTimer = setTimeout(() => {
        startFailure = `a worker was not ready within ${READY_TIMEOUT_MS / 1000} s`;
        this.logger.error(
          { workerId: worker.id },
          "worker did not become ready in time; killing it",
        );
        worker.process.kill("SIGKILL");
      }, READY_TIMEOUT_MS);
      worker.on("message", (message: unknown, handle: unknown) => {
        entry.lastHeardAt = Date.now();
        if (!isMessage<WorkerToPrimary>(message)) return;
        if (message.t === "ready") {
          clearTimeout(readyTimer);
          this.failedStarts = 0;
          if (entry.state === "starting") entry.state = "ready";
          this.logger.info({ workerId: worker.id, workerPid: worker.process.pid }, "worker ready");
          this.emit("change");
          resolve();
        } else if (message.t === "load") {
          entry.reportedSessions = message.connections;
          entry.reportedHandshakes = message.handshakes;
        } else if (message.t === "failed") {
          startFailure = message.reason;
        } else if (message.t === "backend") {
          entry.backendReady = message.ready;
          this.emit("change");
        }
        this.emit("message", entry, message, handle);
      });
      worker.on("error", (error: NodeJS.ErrnoException) => {
        // Node could not even run (e.g. EACCES on its binary): no "exit" event follows.
        if (error.syscall?.startsWith("spawn")) {
          startFailure = `cannot run a worker process: ${error.message}`;
          gone(null, null);
          return;
        }
        // A message to a worker that is exiting (EPIPE) is expected while it drains or dies;
        // its exit is logged on its own.
        const leaving = entry.state === "draining" || this.stopping || !worker.isConnected();
        if (leaving && (error.code === "EPIPE" || error.code === "ERR_IPC_CHANNEL_CLOSED")) {
          this.logger.debug({ workerId: worker.id, code: error.code }, "worker already gone");
        } else {
          this.logger.warn({ workerId: worker.id, err: error.message }, "worker IPC error");
        }
      });
      let exited = false;
      const gone = (code: number | null, signal: string | null) => {
        if (exited) return;
        exited = true;
        clearTimeout(readyTimer);
        this.workers.delete(worker.id);
        this.emit("exit", worker.id);
        this.emit("change");
        resolve();
        const expected = entry.state === "draining" || this.stopping;
        if (expected) {
          this.logger.info({ workerId: worker.id, code, signal }, "worker exited");
          return;
        }
        if (entry.state === "starting") {
          const reason =
            startFailure ??
            `a worker exited before it was ready (${signal ?? `exit code ${code}`})`;
          if (++this.failedStarts >= UNSTARTABLE_AFTER && this.readyCount() === 0) {
            this.stopping = true;
            this.emit("unstartable", reason);
            return;
          }
          this.logger.error(
            { workerId: worker.id, reason },
            "worker could not start; replacing it",
          );
        } else {
          this.logger.error({ workerId: worker.id, code, signal }, "worker died; replacing it");
        }
        this.replaceAfterCrash(entry);
      };
      worker.once("exit", gone);
    });
  }

  private replaceAfterCrash(dead: PooledWorker): void {
    this.restarts++;
    const livedLong = Date.now() - dead.startedAt > STABLE_AFTER_MS;
    this.crashStreak = livedLong ? 0 : this.crashStreak + 1;
    const delay =
      this.crashStreak === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.crashStreak);
    if (delay > 0) this.logger.warn({ delayMs: delay }, "workers keep dying; backing off");
    setTimeout(() => {
      if (!this.stopping) void this.fork();
    }, delay).unref();
  }
}
