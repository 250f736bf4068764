/**
 * Who accepts new connections (src/cluster/accept-mode.ts). On a Node.js with `reusePort` the
 * workers accept on the port themselves and the primary routes only what they hand up; on an
 * older one the primary routes every connection. Either way, as a user sees it: new sessions
 * spread over the workers, and a long-polling session, whose requests arrive on new connections
 * that any worker may accept, reaches its own worker and chats both ways.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runtimeHasReusePort } from "../../src/cluster/accept-mode.js";
import type { SendMessageAnswer } from "../../src/protocol.js";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import {
  closeAll,
  connect,
  connectAs,
  connectAsOnOtherWorker,
  send,
  uniqueName,
  waitForEvent,
  waitForMessages,
  workerOf,
} from "../helpers/clients.js";
import { scrapeMetrics } from "../helpers/host-usage.js";

const SESSIONS = 20;
const ROUTED = "chat_primary_routed_connections_total";

describe("who accepts new connections", () => {
  const mode = runtimeHasReusePort() ? "workers" : "primary";
  let server: ChatServer;
  before(async () => {
    server = await startChatServer({ workers: 2, args: ["--rate-limit", "1000"] });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  it(`on Node.js ${process.versions.node}: the ${mode} accept, and new sessions spread over both workers`, async () => {
    const before = await scrapeMetrics(server.url);
    assert.equal(before.get(`chat_accept_mode{mode="${mode}"}`), 1);
    const clients = [];
    for (let i = 0; i < SESSIONS; i++) {
      const client = connect(server.url, { transport: "websocket", reconnection: false });
      await waitForEvent(client, "connect");
      clients.push(client);
    }
    const afterwards = await scrapeMetrics(server.url);
    // The second scrape is a connection the primary routes in both modes.
    const routed = (afterwards.get(ROUTED) ?? 0) - (before.get(ROUTED) ?? 0) - 1;
    assert.equal(routed, mode === "workers" ? 0 : SESSIONS);
    // By the kernel's hash or by the primary's least-loaded choice: both workers get sessions.
    assert.equal(new Set(clients.map(workerOf)).size, 2);
  });

  it(`with the primary stopped (SIGSTOP), ${mode === "workers" ? "the workers still start new WebSocket sessions and chat" : "new sessions start once it runs again"}`, async () => {
    // Without a per-address limit: with one, a new session waits for the primary's count.
    const host = await startChatServer({ workers: 2, args: ["--max-connections-per-ip", "0"] });
    const primary = host.proc.pid as number;
    process.kill(primary, "SIGSTOP");
    try {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = connectAs(host.url, alice, { transport: "websocket" });
      if (mode === "primary") process.kill(primary, "SIGCONT");
      const aliceClient = await a;
      // On the other worker: the message crosses the peer mesh.
      const bobClient = await connectAsOnOtherWorker(host.url, bob, aliceClient, {
        transport: "websocket",
      });
      assert.notEqual(workerOf(bobClient), workerOf(aliceClient));
      const answer = await send(aliceClient, bob, "no primary needed");
      assert.ok(answer.ok && answer.status === "delivered", JSON.stringify(answer));
      await waitForMessages(bobClient, (m) => m.some((x) => x.message === "no primary needed"));
    } finally {
      process.kill(primary, "SIGCONT");
      await host.stop();
    }
  });

  it("long-polling sessions on both workers reach their own worker and chat both ways", async () => {
    const users: { name: string; client: Awaited<ReturnType<typeof connectAs>> }[] = [];
    // Until both workers hold a polling session (a new session goes to either worker).
    while (new Set(users.map((u) => workerOf(u.client))).size < 2 && users.length < 30) {
      const name = uniqueName("poll");
      users.push({ name, client: await connectAs(server.url, name, { transport: "polling" }) });
    }
    const [first, ...rest] = users;
    assert.ok(first);
    const other = rest.find((u) => workerOf(u.client) !== workerOf(first.client));
    assert.ok(other);
    const delivered = async (answer: Promise<SendMessageAnswer>) => {
      const got = await answer;
      assert.ok(got.ok && got.status === "delivered", JSON.stringify(got));
    };
    for (let i = 0; i < 5; i++) {
      await delivered(send(first.client, other.name, `there ${i}`));
      await delivered(send(other.client, first.name, `back ${i}`));
    }
    const got = await waitForMessages(other.client, (m) => m.length >= 5);
    const gotBack = await waitForMessages(first.client, (m) => m.length >= 5);
    assert.deepEqual(
      got.map((m) => m.message),
      [0, 1, 2, 3, 4].map((i) => `there ${i}`),
    );
    assert.deepEqual(
      gotBack.map((m) => m.message),
      [0, 1, 2, 3, 4].map((i) => `back ${i}`),
    );
  });
});
