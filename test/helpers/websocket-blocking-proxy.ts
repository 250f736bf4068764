/**
 * An HTTP proxy that passes every plain request on to a server and refuses every WebSocket
 * upgrade with 403, as some corporate proxies and firewalls do: what a client's fallback to
 * long-polling must get through.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface WebSocketBlockingProxy {
  url: string;
  /** WebSocket upgrades refused so far. */
  refusedUpgrades(): number;
  close(): Promise<void>;
}

export async function startWebSocketBlockingProxy(target: string): Promise<WebSocketBlockingProxy> {
  const { hostname, port } = new URL(target);
  let refused = 0;
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { hostname, port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (_req, socket) => {
    refused++;
    socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refusedUpgrades: () => refused,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
