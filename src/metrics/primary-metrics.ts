/**
 * /metrics for the whole host: the primary asks each ready worker for its metrics over IPC,
 * sums them with prom-client's aggregation, and adds its own (worker restarts, the embedded
 * database's size).
 * Workers that do not answer in time are left out of that scrape rather than failing it.
 */
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from "prom-client";
import type { AcceptMode } from "../cluster/accept-mode.js";
import type { WorkerPool } from "../cluster/worker-pool.js";
import { keptBytes } from "../store/inbox-records.js";
import { listUsers } from "../store/presence-records.js";
import type { StoreKeeper } from "../store/store-keeper.js";
import { collectProcessMetrics } from "./process-metrics.js";

const SCRAPE_TIMEOUT_MS = 2000;

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export class PrimaryMetrics {
  private readonly registry = new Registry();
  private readonly waiting = new Map<number, (metrics: MetricsJson[]) => void>();
  private nextRef = 1;
  /** The scrape under way: requests meanwhile share it, so a flood of /metrics costs one. */
  private pending: Promise<string> | undefined;
  private readonly limitHits: Counter<"limit">;
  private readonly routed: Counter;
  private waitingSessions: () => number = () => 0;

  constructor(
    private readonly pool: WorkerPool,
    keeper: StoreKeeper | undefined,
    acceptMode: AcceptMode,
  ) {
    collectProcessMetrics(this.registry, "chat_primary_");
    // Same name as the workers' counter: the aggregation adds the primary's limits to theirs.
    this.limitHits = new Counter({
      name: "chat_limit_hits_total",
      help: "Connections, sessions and requests stopped by a limit (README: Limits and abuse), by limit",
      labelNames: ["limit"],
      registers: [this.registry],
    });
    this.routed = new Counter({
      name: "chat_primary_routed_connections_total",
      help: "Connections whose request the primary routed: all of them where it accepts them, else only what workers hand up (other workers' polling requests, /readyz, /healthz, /metrics)",
      registers: [this.registry],
    });
    const waiting = () => this.waitingSessions();
    new Gauge({
      name: "chat_waiting_new_sessions",
      help: "New sessions waiting in the primary for a worker that can take them (none ready, or every hand-off queue full)",
      registers: [this.registry],
      collect() {
        this.set(waiting());
      },
    });
    new Gauge({
      name: "chat_accept_mode",
      help: "Who accepts new connections: 1 for the mode in use (workers: SO_REUSEPORT; primary)",
      labelNames: ["mode"],
      registers: [this.registry],
    }).set({ mode: acceptMode }, 1);
    new Counter({
      name: "chat_worker_restarts_total",
      help: "Workers replaced after dying",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(pool.restarts);
      },
    });
    new Gauge({
      name: "chat_workers_ready",
      help: "Workers ready for traffic",
      registers: [this.registry],
      collect() {
        this.set(pool.readyCount());
      },
    });
    if (keeper) {
      const { store } = keeper;
      new Gauge({
        name: "chat_online_users",
        help: "Distinct users online on this host (embedded mode)",
        registers: [this.registry],
        collect() {
          store.refresh();
          this.set(listUsers(store.presence, Number.MAX_SAFE_INTEGER).length);
        },
      });
      new Gauge({
        name: "chat_store_file_bytes",
        help: "Size of the embedded database file on disk",
        registers: [this.registry],
        collect() {
          this.set(keeper.size().fileBytes);
        },
      });
      new Gauge({
        name: "chat_store_kept_messages",
        help: "Messages kept in the embedded database (a message counts in both inboxes)",
        registers: [this.registry],
        collect() {
          store.refresh();
          this.set(keeper.size().messages);
        },
      });
      new Gauge({
        name: "chat_store_kept_bytes",
        help: "Bytes of messages kept in the embedded database, counted against --max-data-mb",
        registers: [this.registry],
        collect() {
          store.refresh();
          this.set(keptBytes(store));
        },
      });
      new Counter({
        name: "chat_store_expired_messages_total",
        help: "Messages removed from the embedded database because they were older than 7 days",
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(keeper.expired);
        },
      });
    }
    pool.on("message", (_worker, message) => {
      if (message.t === "metrics")
        this.waiting.get(message.ref)?.([message.metrics as MetricsJson]);
    });
  }

  readonly contentType = this.registry.contentType;

  limitHit(limit: string): void {
    this.limitHits.inc({ limit });
  }

  routedConnection(): void {
    this.routed.inc();
  }

  /** Where `chat_waiting_new_sessions` reads its value. */
  countWaitingSessions(count: () => number): void {
    this.waitingSessions = count;
  }

  scrape(): Promise<string> {
    if (!this.pending) {
      this.pending = this.collect().finally(() => {
        this.pending = undefined;
      });
    }
    return this.pending;
  }

  private async collect(): Promise<string> {
    const workers = this.pool.all().filter((w) => w.state !== "starting");
    const answers = await Promise.all(workers.map((w) => this.ask(w.id)));
    const own = await this.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([own, ...answers.flat()]).metrics();
  }

  private ask(workerId: number): Promise<MetricsJson[]> {
    const worker = this.pool.get(workerId);
    if (!worker) return Promise.resolve([]);
    const ref = this.nextRef++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish([]), SCRAPE_TIMEOUT_MS);
      const finish = (metrics: MetricsJson[]) => {
        clearTimeout(timer);
        this.waiting.delete(ref);
        resolve(metrics);
      };
      this.waiting.set(ref, finish);
      this.pool.send(worker, { t: "metrics", ref });
    });
  }
}
