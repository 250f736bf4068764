/**
 * Embedded mode keeps each inbox's messages for at least 7 days (CONTRACT.md section 3) and then
 * removes them (the store is bounded: docs/embedded-storage.md), through the real server. The
 * days pass by restarting the server on the same data directory with its clock moved forward
 * (test/helpers/shift-clock.ts); the primary sweeps expired messages when it opens the store,
 * and logs how many it removed. (Multi-host mode: the inbox's expiry in Redis, contract-redis.)
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { NewMessage } from "../../src/protocol.js";
import {
  type ChatServer,
  startChatServer,
  tempDataDir,
  waitForLog,
} from "../helpers/chat-server.js";
import { closeAll, connectAs, send, uniqueName, waitForMessages } from "../helpers/clients.js";
import { shiftClockOptions } from "../helpers/shift-clock.js";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const texts = (messages: NewMessage[]) => messages.map((m) => m.message);

describe("embedded mode: retention of 7 days, through the server", () => {
  const servers: ChatServer[] = [];
  afterEach(async () => {
    closeAll();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  /** A server on `dataDir` whose clock runs `shiftMs` ahead of the real one. */
  async function startAt(dataDir: string, shiftMs: number): Promise<ChatServer> {
    const server = await startChatServer({
      workers: 1,
      dataDir,
      env: { NODE_OPTIONS: shiftClockOptions(shiftMs) },
    });
    servers.push(server);
    return server;
  }

  async function stop(server: ChatServer): Promise<void> {
    servers.splice(servers.indexOf(server), 1);
    assert.equal(await server.stop(), 0);
  }

  /** Waits for the primary's sweep at start-up to log what it removed; returns the count. */
  async function sweptAtStart(server: ChatServer): Promise<number> {
    const swept = (log: Record<string, unknown>) => log.msg === "expired messages removed";
    await waitForLog(server, swept, 20_000);
    return server.logs().find(swept)?.removed as number;
  }

  it("a message is kept 7 days less an hour, and gone 7 days and an hour after it was sent", async () => {
    const dataDir = tempDataDir();
    const [alice, carol] = [uniqueName("alice"), uniqueName("carol")];

    // A day before "now": one message, the marker that tells when a later sweep has run.
    let server = await startAt(dataDir, -DAY);
    let a = await connectAs(server.url, alice);
    const ancient = await send(a, carol, "ancient");
    assert.ok(ancient.ok && ancient.status === "stored", JSON.stringify(ancient));
    await stop(server);

    // "Now": the messages under test, stored while carol is offline.
    server = await startAt(dataDir, 0);
    a = await connectAs(server.url, alice);
    for (const text of ["old-1", "old-2"]) {
      const answer = await send(a, carol, text);
      assert.ok(answer.ok && answer.status === "stored", JSON.stringify(answer));
    }
    await stop(server);

    // 7 days less an hour later: the sweep removed only "ancient" (8 days less an hour old),
    // from carol's inbox and alice's; carol's log in replays the two that are still kept.
    server = await startAt(dataDir, 7 * DAY - HOUR);
    assert.equal(await sweptAtStart(server), 2, "only the 8-day-old message, in both inboxes");
    let c = await connectAs(server.url, carol);
    const kept = await waitForMessages(c, (m) => m.length >= 2);
    assert.deepEqual(texts(kept), ["old-1", "old-2"]);
    await stop(server);

    // 7 days and an hour after they were sent: both are gone from both inboxes; a since-replay
    // of everything kept finds nothing before a message sent now.
    server = await startAt(dataDir, 7 * DAY + HOUR);
    assert.equal(await sweptAtStart(server), 4, "the two 7-day-old messages, in both inboxes");
    c = await connectAs(server.url, carol, { since: "0-0" });
    a = await connectAs(server.url, alice);
    assert.ok((await send(a, carol, "fresh")).ok);
    const after = await waitForMessages(c, (m) => m.some((x) => x.message === "fresh"));
    assert.deepEqual(texts(after), ["fresh"]);
  });
});
