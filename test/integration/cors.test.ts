/**
 * --cors-origin: browsers on the listed origins may use long-polling from another site; by
 * default no CORS headers are sent at all.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";

const HANDSHAKE = "/socket.io/?EIO=4&transport=polling";

describe("CORS", () => {
  let open: ChatServer;
  let strict: ChatServer;
  before(async () => {
    [open, strict] = await Promise.all([
      startChatServer({ workers: 1, args: ["--cors-origin", "https://app.example"] }),
      startChatServer({ workers: 1 }),
    ]);
  });
  after(async () => {
    await Promise.all([open.stop(), strict.stop()]);
  });

  it("allows a listed origin and no other", async () => {
    const allowed = await fetch(`${open.url}${HANDSHAKE}`, {
      headers: { Origin: "https://app.example" },
    });
    await allowed.arrayBuffer();
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example");
    const other = await fetch(`${open.url}${HANDSHAKE}`, {
      headers: { Origin: "https://evil.example" },
    });
    await other.arrayBuffer();
    // No allow-origin at all: not the evil origin, and not "*" either (which allows every site).
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });

  it("sends no CORS headers by default", async () => {
    const res = await fetch(`${strict.url}${HANDSHAKE}`, {
      headers: { Origin: "https://app.example" },
    });
    await res.arrayBuffer();
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });
});
