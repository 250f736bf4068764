/**
 * What the primary answers itself: liveness, readiness and metrics describe the whole host, so
 * they come from the process that knows every worker. Anything else reaching the primary means
 * no worker can take the request (starting or draining): 503, and the client tries again.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export interface PrimaryRoutesOptions {
  /** Why the host should get no traffic now, or undefined when it is ready. */
  notReadyReason: () => string | undefined;
  /** Prometheus text of all workers and the primary. */
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** Whether this request's address already holds as many sessions as it may. */
  overAddressLimit: (req: IncomingMessage) => boolean;
}

export function createPrimaryRoutes(options: PrimaryRoutesOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader("Connection", "close");
    const pathname = (req.url ?? "/").split("?")[0];
    if (pathname === "/healthz") {
      text(res, 200, "ok\n");
    } else if (pathname === "/readyz") {
      const reason = options.notReadyReason();
      text(res, reason ? 503 : 200, reason ? `not ready: ${reason}\n` : "ready\n");
    } else if (pathname === "/metrics") {
      options.metrics().then(
        ({ contentType, body }) => res.writeHead(200, { "Content-Type": contentType }).end(body),
        () => text(res, 500, "metrics unavailable\n"),
      );
    } else if (options.overAddressLimit(req)) {
      text(res, 429, "too many connections from this address\n");
    } else {
      res.setHeader("Retry-After", "1");
      text(res, 503, "no worker available; try again\n");
    }
  };
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" }).end(body);
}
