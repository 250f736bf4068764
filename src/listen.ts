/**
 * `server.listen(options)` as a promise: resolves once it listens, rejects with the bind error
 * (EADDRINUSE, EACCES, …), leaving no error listener behind either way.
 */
import type net from "node:net";

/** `reusePort` (SO_REUSEPORT): Node.js 22.12+; not yet in the Node.js 20 type definitions. */
export type ListenOptions = net.ListenOptions & { reusePort?: boolean };

export function listen(server: net.Server, options: ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options, () => {
      server.removeListener("error", reject);
      resolve();
    });
  });
}
