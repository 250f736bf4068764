/**
 * prom-client's default process metrics (CPU, memory, event-loop delay, GC), for the primary and
 * every worker. The event-loop delay is sampled by a timer: prom-client's default of every 10 ms
 * wakes an idle process 100 times a second, which cost an idle host (primary + worker) about 1%
 * of a core, on every host of a multi-host service. Sampling every 100 ms still shows any stall
 * longer than that in the histogram, for a tenth of the wake-ups.
 */
import { collectDefaultMetrics, type Registry } from "prom-client";

const EVENT_LOOP_SAMPLE_MS = 100;

export function collectProcessMetrics(registry: Registry, prefix?: string): void {
  collectDefaultMetrics({
    register: registry,
    eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    ...(prefix ? { prefix } : {}),
  });
}
