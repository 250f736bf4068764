/**
 * A worker whose event loop is stuck (here: stopped with SIGSTOP) answers none of its clients,
 * takes no hand-off and, where workers accept on the port themselves, still gets its share of
 * new connections from the kernel. The primary hears nothing from it for
 * --worker-stall-timeout, kills it and starts another; the host chats on.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startChatServer } from "../helpers/chat-server.js";
import { closeAll, connectAs, send, uniqueName, waitForMessages } from "../helpers/clients.js";
import { scrapeMetrics } from "../helpers/host-usage.js";
import { eventually, NotYet } from "../helpers/wait.js";

describe("a stalled worker", () => {
  it("is killed and replaced after --worker-stall-timeout, and the host chats on", async () => {
    const server = await startChatServer({ workers: 2, args: ["--worker-stall-timeout", "2"] });
    const [victim] = server.workerPids() as [number];
    try {
      process.kill(victim, "SIGSTOP");
      await eventually(async () => {
        // A connection the kernel queued for the stopped worker is reset when it is killed.
        const metrics = await scrapeMetrics(server.url).catch((error: Error) => {
          if (error instanceof TypeError) throw new NotYet(`scrape failed: ${error.message}`);
          throw error;
        });
        assert.equal(metrics.get("chat_worker_restarts_total"), 1);
        assert.equal(metrics.get("chat_workers_ready"), 2);
      }, 30_000);
      const stalled = server.logs().filter((line) => String(line.msg).startsWith("worker stalled"));
      assert.equal(stalled.length, 1, "one stalled worker logged");

      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(server.url, alice, { transport: "websocket" });
      const b = await connectAs(server.url, bob, { transport: "websocket" });
      const answer = await send(a, bob, "after the stall");
      assert.ok(answer.ok && answer.status === "delivered", JSON.stringify(answer));
      await waitForMessages(b, (m) => m.some((x) => x.message === "after the stall"));
    } finally {
      closeAll();
      try {
        process.kill(victim, "SIGCONT");
      } catch {
        // killed already
      }
      await server.stop();
    }
  });
});
