/**
 * Event-loop delay of a generator: how late its timers fire. Node's monitor records the whole
 * interval between samples (about `resolution` ms when idle), so the resolution is taken off:
 * 0 means the loop was never held up.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

const RESOLUTION_MS = 10;

export function createLoopMonitor() {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const excessMs = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  return {
    enable: () => histogram.enable(),
    disable: () => histogram.disable(),
    p99Ms: () => (histogram.count > 0 ? excessMs(histogram.percentile(99)) : 0),
    maxMs: () => (histogram.count > 0 ? excessMs(histogram.max) : 0),
  };
}
