/**
 * Who accepts new connections on a host.
 *
 * - `workers`: every worker listens on the port itself with `SO_REUSEPORT` and the kernel spreads
 *   new connections over them, so the primary is off the path of almost every connection. A
 *   worker hands up to the primary only what is not its own: a request of another worker's
 *   long-polling session, and the host-wide paths (`/readyz`, `/healthz`, `/metrics`). The
 *   primary listens as well only while no worker is ready, or while the host drains, so that
 *   a client always meets someone who answers (a 503 rather than a refused connection).
 * - `primary`: the primary accepts every connection, reads its head and hands it to a worker.
 *   Where `reusePort` is missing (Node.js before 22.12, or a platform without `SO_REUSEPORT`).
 *
 * `CHAT_SERVER_ACCEPT=primary` forces the second on any runtime, to compare the two.
 */
export type AcceptMode = "workers" | "primary";

/** Node.js gained `net.Server#listen({ reusePort })` in 22.12.0 and 23.1.0. */
export function runtimeHasReusePort(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** Platforms whose kernel balances `SO_REUSEPORT` listeners (Node.js refuses it elsewhere). */
const REUSEPORT_PLATFORMS = new Set<NodeJS.Platform>(["linux", "freebsd", "sunos", "aix"]);

export function chooseAcceptMode(env: NodeJS.ProcessEnv = process.env): AcceptMode {
  if (env.CHAT_SERVER_ACCEPT === "primary") return "primary";
  return runtimeHasReusePort() && REUSEPORT_PLATFORMS.has(process.platform) ? "workers" : "primary";
}
