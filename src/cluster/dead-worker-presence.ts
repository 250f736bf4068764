/**
 * Multi-host mode: when a worker of this host dies, its users must go offline in Redis at once,
 * as they do in embedded mode, not when its heartbeat expires (up to 20 s later). The primary
 * learns each worker's presence key from its "ready" message, and on its exit asks a live worker
 * to remove that key's users. Harmless after a clean exit (the worker already left); if no
 * worker is ready (a one-worker host), the next one to become ready does it.
 */
import type { WorkerPool } from "./worker-pool.js";

export function forgetDeadWorkersPresence(pool: WorkerPool): void {
  const keys = new Map<number, string>();
  const pending: string[] = [];
  const handOver = () => {
    const worker = pool.all().find((w) => w.state === "ready");
    if (!worker) return;
    for (const presenceKey of pending.splice(0)) pool.send(worker, { t: "forget", presenceKey });
  };
  pool.on("message", (worker, message) => {
    if (message.t !== "ready") return;
    if (message.presenceKey) keys.set(worker.id, message.presenceKey);
    handOver();
  });
  pool.on("exit", (workerId) => {
    const key = keys.get(workerId);
    if (key === undefined) return;
    keys.delete(workerId);
    pending.push(key);
    handOver();
  });
}
