/**
 * The primary hands each TCP connection to the worker of its first request, and workers answer
 * `Connection: close`, so a client that follows HTTP sends one request per connection. Requests
 * pipelined behind the first were never routed or counted by the primary: as Socket.IO
 * handshakes they would open sessions past `--max-connections-per-ip`. They get 429; a pipelined
 * WebSocket upgrade is dropped.
 *
 * Call after Socket.IO is attached: it wraps every `request` and `upgrade` listener present.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

export function oneRequestPerConnection(server: Server, onRefused: () => void): void {
  const served = new WeakSet<Duplex>();
  const first = (socket: Duplex): boolean => {
    if (served.has(socket)) {
      onRefused();
      return false;
    }
    served.add(socket);
    return true;
  };
  const requestListeners = server.listeners("request") as ((
    req: IncomingMessage,
    res: ServerResponse,
  ) => void)[];
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (!first(req.socket)) {
      res.writeHead(429, { "Content-Type": "text/plain; charset=utf-8", Connection: "close" });
      res.end("one request per connection\n");
      return;
    }
    for (const listener of requestListeners) listener.call(server, req, res);
  });
  const upgradeListeners = server.listeners("upgrade") as ((
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ) => void)[];
  server.removeAllListeners("upgrade");
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!first(socket)) {
      socket.destroy();
      return;
    }
    for (const listener of upgradeListeners) listener.call(server, req, socket, head);
  });
}
