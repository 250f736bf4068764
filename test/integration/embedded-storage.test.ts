/**
 * Embedded mode's inboxes live on disk (`--data-dir`): what the server acknowledged is there
 * after a clean stop, a rolling restart, and kill -9 of every process of the host, and under
 * more load than the host can deliver (embedded-faults.test.ts: limits and faults).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NewMessage } from "../../src/protocol.js";
import { tempDataDir, waitForLog } from "../helpers/chat-server.js";
import {
  connectAs,
  replayEverything,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { embeddedServersPerTest } from "../helpers/embedded-servers.js";
import { isRunning, waitFor } from "../helpers/wait.js";

const texts = (messages: NewMessage[]) => messages.map((m) => m.message);

describe("embedded storage on disk", () => {
  const { servers, start } = embeddedServersPerTest();

  it("a stored message survives SIGTERM and a new start; `since` replays across the restart", async () => {
    const dataDir = tempDataDir();
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    let server = await start(dataDir);
    const a = await connectAs(server.url, alice);
    const first = await send(a, bob, "before the restart");
    assert.ok(first.ok && first.status === "stored", JSON.stringify(first));
    a.disconnect();
    assert.equal(await server.stop("SIGTERM"), 0);
    servers.pop();

    server = await start(dataDir);
    const b = await connectAs(server.url, bob);
    const [got] = await waitForMessages(b, (m) => m.length === 1);
    assert.equal(got?.message, "before the restart");
    assert.equal(got?.id, first.ok ? first.id : undefined);
    // Ids keep increasing across restarts, so `since` an id from before still works.
    const a2 = await connectAs(server.url, alice);
    const second = await send(a2, bob, "after the restart");
    assert.ok(second.ok);
    await waitForMessages(b, (m) => texts(m).includes("after the restart"));
    const replay = await connectAs(server.url, bob, { since: first.ok ? first.id : "" });
    const replayed = await waitForMessages(replay, (m) => m.length >= 1);
    assert.deepEqual(texts(replayed), ["after the restart"]);
  });

  it("stored messages survive a SIGHUP rolling restart of every worker", async () => {
    const dataDir = tempDataDir();
    const server = await start(dataDir);
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    const a = await connectAs(server.url, alice, { reconnection: false });
    for (let i = 0; i < 5; i++) assert.ok((await send(a, bob, `m${i}`)).ok);
    a.disconnect();
    server.proc.kill("SIGHUP");
    await waitForLog(server, (log) => log.msg === "rolling restart done", 30_000);
    const b = await connectAs(server.url, bob);
    const got = await waitForMessages(b, (m) => m.length === 5);
    assert.deepEqual(texts(got), ["m0", "m1", "m2", "m3", "m4"]);
  });

  it("kill -9 of the primary alone: its workers follow it out, none left holding the store", async () => {
    // The workers are in the middle of store transactions at the kill (the sessions leaving
    // each remove their presence). Node's own handler for a lost primary ends a worker with
    // process.exit, which could wait forever for the store's writer thread: it did about once
    // in six rounds, so the test runs six.
    for (let round = 1; round <= 6; round++) {
      const server = await start(tempDataDir());
      const clients = await Promise.all(
        Array.from({ length: 20 }, () =>
          connectAs(server.url, uniqueName("u"), { transport: "websocket", reconnection: false }),
        ),
      );
      const workers = server.workerPids();
      for (const client of clients) client.disconnect();
      process.kill(server.proc.pid as number, "SIGKILL");
      await waitFor(
        `round ${round}: the workers of the killed primary to exit`,
        () => workers.every((pid) => !isRunning(pid)),
        10_000,
      );
      servers.pop();
    }
  });

  it("kill -9 of every process of the host under traffic loses no acknowledged message, and order per sender holds", async () => {
    const dataDir = tempDataDir();
    const server = await start(dataDir);
    const bob = uniqueName("bob");
    const senders = [uniqueName("s"), uniqueName("s"), uniqueName("s")];
    const clients = await Promise.all(
      senders.map((s) => connectAs(server.url, s, { transport: "websocket", reconnection: false })),
    );
    const acked = new Map<string, string[]>(senders.map((s) => [s, []]));
    let stop = false;
    const loops = clients.map(async (client, i) => {
      const sender = senders[i] as string;
      for (let n = 0; n < 300 && !stop; n++) {
        const answer = await send(client, bob, `${sender}:${n}`).catch(() => undefined);
        if (!answer?.ok) return;
        acked.get(sender)?.push(`${sender}:${n}`);
      }
    });
    await waitFor(
      "20 acknowledged sends per sender",
      () => [...acked.values()].every((list) => list.length >= 20),
      20_000,
    );
    const pids = [server.proc.pid as number, ...server.workerPids()];
    for (const pid of pids) process.kill(pid, "SIGKILL");
    stop = true;
    await Promise.all(loops);
    await waitFor(
      "every process of the host to exit",
      () => pids.every((pid) => !isRunning(pid)),
      10_000,
    );
    servers.pop();
    const total = [...acked.values()].reduce((sum, list) => sum + list.length, 0);
    assert.ok(total >= 60, `only ${total} sends were acknowledged before the kill`);

    const restarted = await start(dataDir);
    const kept = texts(await replayEverything(restarted.url, bob, total));
    for (const [sender, list] of acked) {
      const fromSender = kept.filter((text) => text.startsWith(`${sender}:`));
      // Every acknowledged message is there, in the order sent (a send in flight at the kill
      // may be there too, unacknowledged: it comes after the acknowledged ones).
      assert.deepEqual(fromSender.slice(0, list.length), list, `${sender}'s messages`);
    }
  });

  it("senders far above what the host delivers: every acknowledged message is found by `since`, in order per sender", async () => {
    const server = await start(tempDataDir());
    const bob = uniqueName("bob");
    const receiver = await connectAs(server.url, bob, { transport: "websocket" });
    const senders = Array.from({ length: 6 }, () => uniqueName("flood"));
    const clients = await Promise.all(
      senders.map((s) => connectAs(server.url, s, { transport: "websocket" })),
    );
    // No waiting for acks: each sender fires its whole burst at once.
    const perSender = 150;
    const answers = await Promise.all(
      clients.map((client, i) =>
        Promise.all(
          Array.from({ length: perSender }, (_, n) =>
            send(client, bob, `${senders[i]}:${n}`).then((answer) => ({ answer, n })),
          ),
        ),
      ),
    );
    const acked = answers.map((list) => list.filter(({ answer }) => answer.ok).map(({ n }) => n));
    const total = acked.reduce((sum, list) => sum + list.length, 0);
    assert.equal(total, senders.length * perSender, "every send was acknowledged");
    const live = await waitForMessages(receiver, (m) => m.length >= total, 60_000);
    const replayed = await replayEverything(server.url, bob, total);
    for (const got of [live, replayed]) {
      assert.equal(new Set(got.map((m) => m.id)).size, total, "each message once");
      for (const [i, sender] of senders.entries()) {
        const order = got
          .filter((m) => m.from === sender)
          .map((m) => Number(m.message.split(":")[1]));
        assert.deepEqual(order, acked[i], `${sender} in order`);
      }
    }
  });
});
