/**
 * --max-connections-per-ip: sessions per client address are counted over all workers; one
 * too many is refused, and a closed session frees its place.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import { type ChatClient, closeAll, connect, workerOf } from "../helpers/clients.js";
import { eventually, NotYet } from "../helpers/wait.js";

describe("connections per address", () => {
  let server: ChatServer;
  before(async () => {
    server = await startChatServer({ workers: 2, args: ["--max-connections-per-ip", "3"] });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  /** A WebSocket session, one connection; NotYet if the server refuses it. */
  async function connectWebSocket(): Promise<ChatClient> {
    const client = connect(server.url, { transport: "websocket", reconnection: false });
    const outcome = await new Promise((resolve) => {
      client.once("connect", () => resolve("connected"));
      client.once("connect_error", () => resolve("refused"));
    });
    if (outcome === "refused") throw new NotYet("connection refused");
    return client;
  }

  it("refuses the fourth session from one address, over both workers", async () => {
    // One at a time, over WebSocket: a polling client opens several connections at once, and
    // connections whose head the primary has not read yet count against the same limit, so
    // on a busy machine three polling starts at once could meet 429 before any is a session.
    const clients: ChatClient[] = [];
    for (let i = 0; i < 3; i++) clients.push(await connectWebSocket());
    // New sessions go where the balancer (least-loaded) or the kernel (workers that accept on
    // the port themselves) puts them: replace the last until the three are on both workers. Its
    // place is free again once its worker has told the primary, hence `eventually`.
    for (let i = 0; i < 40 && new Set(clients.map(workerOf)).size < 2; i++) {
      clients.pop()?.disconnect();
      clients.push(await eventually(connectWebSocket));
    }
    assert.equal(new Set(clients.map(workerOf)).size, 2, "sessions on both workers");

    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 429);
    await assert.rejects(connectWebSocket(), NotYet);

    // Closing one frees a place (the worker tells the primary).
    clients[0]?.disconnect();
    await eventually(async () => {
      const again = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
      await again.arrayBuffer();
      assert.equal(again.status, 200);
    });
  });
});
