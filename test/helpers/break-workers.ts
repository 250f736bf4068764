/**
 * Loaded with `node --import` into a server (NODE_OPTIONS reaches its workers too): every worker
 * fails while its modules load, as on a runtime or install the server cannot run on. The
 * primary is left alone.
 */
import cluster from "node:cluster";
import http from "node:http";

export const BROKEN_WORKER_REASON = "simulated: this worker cannot start here";

if (cluster.isWorker) {
  http.createServer = () => {
    throw new TypeError(BROKEN_WORKER_REASON);
  };
}
