/**
 * A new session that arrives while no worker is ready (the only worker crashed, its replacement
 * is starting) waits for the replacement instead of getting a 503 that would send its client
 * into back-off: a crash costs a reconnecting client a short wait, not a failed attempt.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startChatServer } from "../helpers/chat-server.js";
import { eventually } from "../helpers/wait.js";

describe("new sessions while no worker is ready", () => {
  it("wait for the replacement worker and start there instead of getting a 503", async () => {
    const server = await startChatServer({ workers: 1 });
    try {
      const [worker] = server.workerPids() as [number];
      process.kill(worker, "SIGKILL");
      // The primary knows it has no ready worker: it answers /readyz 503 itself.
      await eventually(async () => {
        const ready = await fetch(`${server.url}/readyz`).catch(() => undefined);
        assert.equal(ready?.status, 503);
      });
      const handshake = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(handshake.status, 200);
      assert.match(await handshake.text(), /"sid":"/);
      // The replacement answers it, and is the one now ready.
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.stop();
    }
  });
});
