/**
 * Baseline (b): the off-the-shelf multi-core build. A primary process balances connections
 * over W workers with @socket.io/sticky; the workers share rooms through
 * @socket.io/cluster-adapter; each user joins the room `user:<name>` and a direct message is
 * `io.to("user:" + to).emit(...)`, which the adapter broadcasts to every worker.
 *
 *   node dist/bench/baselines/cluster-server.js --port 3000 --host 127.0.0.1 --workers 2
 */
import cluster from "node:cluster";
import { createServer } from "node:http";
import { createAdapter, setupPrimary } from "@socket.io/cluster-adapter";
import { setupMaster, setupWorker } from "@socket.io/sticky";
import { Server } from "socket.io";
import { attachChat } from "./handlers.js";
import { parseListenOptions, probeHandler } from "./listen-options.js";

const options = parseListenOptions();

function runPrimary(): void {
  const httpServer = createServer();
  setupMaster(httpServer, { loadBalancingMethod: "least-connection" });
  setupPrimary();
  cluster.setupPrimary({ serialization: "advanced" });
  let ready = 0;
  for (let i = 0; i < options.workers; i++) {
    cluster.fork().on("message", (message: { type?: string }) => {
      // Listen only once every worker can take connections, so /readyz means all are up.
      if (message?.type !== "baseline:ready" || ++ready !== options.workers) return;
      httpServer.listen(options.port, options.host, () => {
        const address = httpServer.address();
        const port = typeof address === "object" && address ? address.port : options.port;
        console.log(JSON.stringify({ msg: "listening", port, pid: process.pid }));
      });
    });
  }
  cluster.on("exit", (worker, code) => {
    console.error(JSON.stringify({ msg: "worker exited", pid: worker.process.pid, code }));
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
      process.exit(0);
    });
  }
}

function runWorker(): void {
  const httpServer = createServer(probeHandler);
  const io = new Server(httpServer);
  io.adapter(createAdapter());
  setupWorker(io);
  const idPrefix = `${cluster.worker?.id ?? 0}-`;
  io.on("connection", (socket) => {
    attachChat(
      socket,
      {
        logIn: (s, username) => s.join(`user:${username}`),
        logOut: () => {}, // leaving the room happens on disconnect
        deliver(message) {
          io.to(`user:${message.to}`).emit("new message", message);
          return "delivered"; // the off-the-shelf build cannot tell without a cluster round trip
        },
      },
      idPrefix,
    );
  });
  process.send?.({ type: "baseline:ready" });
}

if (cluster.isPrimary) runPrimary();
else runWorker();
