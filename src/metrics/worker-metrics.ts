/**
 * A worker's Prometheus metrics. The primary collects them from every worker and sums them
 * (prom-client's aggregation), so /metrics describes the whole host.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ChatMetrics } from "../chat/chat-metrics.js";
import { collectProcessMetrics } from "./process-metrics.js";

export interface WorkerGauges {
  connectedSockets: () => number;
  loggedInUsers: () => number;
  watchedUsers: () => number;
  backendUp: () => boolean;
}

export function createWorkerMetrics(gauges: WorkerGauges): {
  registry: Registry;
  chat: ChatMetrics;
} {
  const registry = new Registry();
  collectProcessMetrics(registry);
  new Gauge({
    name: "chat_connected_sockets",
    help: "Socket.IO connections open on this host",
    registers: [registry],
    collect() {
      this.set(gauges.connectedSockets());
    },
  });
  new Gauge({
    name: "chat_logged_in_users",
    help: "Users logged in, counted once per worker they have a session on",
    registers: [registry],
    collect() {
      this.set(gauges.loggedInUsers());
    },
  });
  new Gauge({
    name: "chat_storage_up",
    help: "Workers whose storage back-end (the primary, or Redis) is reachable",
    registers: [registry],
    collect() {
      this.set(gauges.backendUp() ? 1 : 0);
    },
  });
  const received = new Counter({
    name: "chat_messages_received_total",
    help: "Valid `send message` events received",
    registers: [registry],
  });
  const delivered = new Counter({
    name: "chat_messages_delivered_total",
    help: "`new message` events emitted to connected sockets",
    registers: [registry],
  });
  const stored = new Counter({
    name: "chat_messages_stored_total",
    help: "Messages accepted for a recipient with no session online",
    registers: [registry],
  });
  const errors = new Counter({
    name: "chat_errors_total",
    help: "Errors answered to clients, by code",
    labelNames: ["code"],
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: "chat_rate_limited_total",
    help: "Client events refused by the per-connection rate limit",
    registers: [registry],
  });
  const limitHits = new Counter({
    name: "chat_limit_hits_total",
    help: "Connections, sessions and requests stopped by a limit (README: Limits and abuse), by limit",
    labelNames: ["limit"],
    registers: [registry],
  });
  new Gauge({
    name: "chat_watched_users",
    help: "Users watched by at least one connection, counted once per worker",
    registers: [registry],
    collect() {
      this.set(gauges.watchedUsers());
    },
  });
  const presenceEvents = new Counter({
    name: "chat_presence_events_total",
    help: "`presence` events emitted to watching sockets",
    registers: [registry],
  });
  const presenceUnwatched = new Counter({
    name: "chat_presence_unwatched_total",
    help: "Presence changes that reached a worker where no connection watches the user",
    registers: [registry],
  });
  const latency = new Histogram({
    name: "chat_delivery_latency_seconds",
    help: "From acceptance of a message to its emission to the recipient's sockets",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const chat: ChatMetrics = {
    received: () => received.inc(),
    delivered: (sessions, seconds) => {
      delivered.inc(sessions);
      latency.observe(seconds);
    },
    stored: () => stored.inc(),
    error: (code) => errors.inc({ code }),
    rateLimited: () => rateLimited.inc(),
    limitHit: (limit) => limitHits.inc({ limit }),
    presence: (sockets) => presenceEvents.inc(sockets),
    presenceUnwatched: () => presenceUnwatched.inc(),
  };
  return { registry, chat };
}
