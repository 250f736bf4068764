/**
 * Command line of the baseline servers: `--port <n> --host <addr> [--workers <n>]`
 * (and `--redis <url> --prefix <p>` for seed-redis).
 * Each answers GET /readyz with 200 once it accepts Socket.IO connections, like chat-server.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { parseArgs } from "node:util";

export interface ListenOptions {
  port: number;
  host: string;
  workers: number;
  /** Redis URL (seed-redis only). */
  redis: string;
  /** Prefix of Redis keys and channels (seed-redis only). */
  prefix: string;
}

export function parseListenOptions(argv = process.argv.slice(2)): ListenOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      workers: { type: "string", default: "2" },
      redis: { type: "string", default: "redis://127.0.0.1:6379" },
      prefix: { type: "string", default: "seed" },
    },
  });
  return {
    port: Number(values.port),
    host: values.host,
    workers: Number(values.workers),
    redis: values.redis,
    prefix: values.prefix,
  };
}

/** HTTP handler for everything that is not Socket.IO: /healthz and /readyz answer 200. */
export function probeHandler(req: IncomingMessage, res: ServerResponse): void {
  const ok = req.url === "/readyz" || req.url === "/healthz";
  res.writeHead(ok ? 200 : 404, { "content-type": "text/plain" }).end(ok ? "ok\n" : "");
}

/**
 * Listens, prints the `listening` line the bench waits for, and exits on SIGTERM or SIGINT:
 * the baselines keep nothing that needs a drain.
 */
export function listenAndAnnounce(httpServer: Server, options: ListenOptions): void {
  httpServer.listen(options.port, options.host, () => {
    const address = httpServer.address();
    const port = typeof address === "object" && address ? address.port : options.port;
    console.log(JSON.stringify({ msg: "listening", port, pid: process.pid }));
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => process.exit(0));
  }
}
