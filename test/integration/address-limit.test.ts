/**
 * --max-connections-per-ip: sessions per client address are counted over all workers; one
 * too many is refused, and a closed session frees its place.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import { closeAll, connect, waitForEvent } from "../helpers/clients.js";
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
    const clients = ["polling", "websocket", "polling"].map((t) =>
      connect(server.url, { transport: t as "polling" | "websocket", reconnection: false }),
    );
    await Promise.all(clients.map((c) => waitForEvent(c, "connect")));

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
