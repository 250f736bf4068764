/**
 * --max-connections-per-ip: sessions per client address are counted over all workers; one
 * too many is refused, and a closed session frees its place.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import { closeAll, connect, waitForEvent, workerOf } from "../helpers/clients.js";
import { eventually } from "../helpers/wait.js";

describe("connections per address", () => {
  let server: ChatServer;
  before(async () => {
    server = await startChatServer({ workers: 2, args: ["--max-connections-per-ip", "3"] });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  it("refuses the fourth session from one address, over both workers", async () => {
    // One at a time, over WebSocket: a polling client opens several connections at once, and
    // connections whose head the primary has not read yet count against the same limit, so
    // on a busy machine three polling starts at once could meet 429 before any is a session.
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const client = connect(server.url, { transport: "websocket", reconnection: false });
      await waitForEvent(client, "connect");
      clients.push(client);
    }
    // The new-session balancer spreads them: the limit holds over both workers.
    assert.equal(new Set(clients.map(workerOf)).size, 2);

    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 429);
    const extra = connect(server.url, { transport: "websocket", reconnection: false });
    await waitForEvent(extra, "connect_error");

    // Closing one frees a place (the worker tells the primary).
    clients[0]?.disconnect();
    await eventually(async () => {
      const again = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
      await again.arrayBuffer();
      assert.equal(again.status, 200);
    });
  });
});
