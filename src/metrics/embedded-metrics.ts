/**
 * Embedded mode's own counters on a worker: sends refused at the store's size cap, peer channels
 * cut off because their reader fell behind, and messages a worker read from the store because
 * their live hand-off had not arrived (both are repaired from the store; the counts show load).
 */
import { Counter, type Registry } from "prom-client";
import type { EmbeddedBackend } from "../routing/embedded-backend.js";

export function addEmbeddedMetrics(registry: Registry, backend: EmbeddedBackend): void {
  const counters: [string, string, () => number][] = [
    [
      "chat_store_full_refusals_total",
      "Sends refused because the embedded database holds --max-data-mb of messages",
      () => backend.refusedFull,
    ],
    [
      "chat_peer_channel_overflows_total",
      "Worker-to-worker channels cut off because the receiving worker did not read them",
      () => backend.peerOverflows(),
    ],
    [
      "chat_delivery_gap_reads_total",
      "Messages a worker read from the store because their live hand-off had not arrived",
      () => backend.chains.filled,
    ],
  ];
  for (const [name, help, read] of counters) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }
}
