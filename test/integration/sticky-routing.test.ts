/**
 * The primary routes every HTTP request by its session id, so workers must never keep a
 * connection open for a next request that could belong to another worker's session.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";

describe("sticky routing", () => {
  let server: ChatServer;
  before(async () => {
    server = await startChatServer({ workers: 2 });
  });
  after(async () => {
    await server.stop();
  });

  it("warns at start that anyone can log in when there is no --auth-secret", () => {
    const warning = server.logs().find((log) => String(log.msg).includes("anyone can log in"));
    assert.equal(warning?.level, 40);
  });

  it("every response closes its connection", async () => {
    for (const path of ["/", "/socket.io/?EIO=4&transport=polling", "/readyz", "/nope"]) {
      const res = await fetch(`${server.url}${path}`);
      await res.arrayBuffer();
      assert.equal(res.headers.get("connection"), "close", path);
    }
  });

  it("long-polling requests reach the worker that holds their session", async () => {
    // Open sessions until both workers hold one, then poll each one many times.
    const sids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
      sids.push((JSON.parse((await res.text()).slice(1)) as { sid: string }).sid);
    }
    assert.ok(new Set(sids.map((sid) => sid.split(".")[0])).size === 2, "sessions on both workers");
    for (const sid of sids) {
      for (let i = 0; i < 3; i++) {
        // A ping from the client side of Engine.IO: an unknown session would answer 400.
        const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
          method: "POST",
          body: "3",
        });
        assert.equal(res.status, 200, await res.text());
      }
    }
  });
});
