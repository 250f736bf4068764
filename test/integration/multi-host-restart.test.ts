/**
 * Two real hosts (`bin/chat-server start --redis`, 2 workers each) on one Redis, connected to
 * directly: the inboxes outlive a restart of every host, and the hosts ride out Redis being
 * killed and started again (readiness 503 and UNAVAILABLE meanwhile, then back by themselves).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ErrorCode } from "../../src/protocol.js";
import type { ChatServer } from "../helpers/chat-server.js";
import {
  type ChatClient,
  closeAll,
  connectAs,
  listUsers,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { startHost, waitForReadyStatus } from "../helpers/multi-host.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { type RedisProcess, startRedis } from "../helpers/redis-server.js";
import { eventually } from "../helpers/wait.js";

describe("two hosts on one Redis: restarts", () => {
  let redis: RedisProcess;
  let prefix: string;
  let hosts: ChatServer[] = [];

  const startHosts = async () => {
    const redisArgs = ["--redis", redis.url];
    hosts = await Promise.all(
      ["host-a", "host-b"].map((nodeId) => startHost({ redis: redisArgs, prefix, nodeId })),
    );
  };
  const [a, b] = [() => hosts[0] as ChatServer, () => hosts[1] as ChatServer];

  before(async () => {
    redis = await startRedis();
    prefix = randomPrefix();
    await startHosts();
  });

  after(async () => {
    closeAll();
    await Promise.all(hosts.map((h) => h.stop()));
    await redis?.stop();
  });

  it("keeps every inbox across a restart of all hosts; since replays across it", async () => {
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const carol = uniqueName("carol");
    const aliceClient = await connectAs(a().url, alice, { transport: "websocket" });
    const bobClient = await connectAs(b().url, bob, { transport: "websocket" });
    const first = await send(bobClient, alice, "before the restart");
    assert.ok(first.ok && first.status === "delivered", JSON.stringify(first));
    await waitForMessages(aliceClient, (m) => m.length === 1);
    aliceClient.disconnect();
    await eventually(async () => {
      const answer = await listUsers(bobClient);
      assert.ok(answer.ok && !answer.users.includes(alice));
    });
    const stored: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const answer = await send(bobClient, alice, `while away ${i}`);
      assert.ok(answer.ok && answer.status === "stored", JSON.stringify(answer));
      stored.push(answer.id);
    }
    const forCarol = await send(bobClient, carol, "for carol, who never logged in");
    assert.ok(forCarol.ok && forCarol.status === "stored");

    bobClient.disconnect();
    assert.deepEqual(await Promise.all(hosts.map((h) => h.stop())), [0, 0]);
    await startHosts();

    // carol, new: her stored message arrives right after her first log in.
    const carolClient = await connectAs(b().url, carol, { transport: "websocket" });
    const got = await waitForMessages(carolClient, (m) => m.length === 1);
    assert.deepEqual(
      got.map((m) => [m.id, m.from, m.message]),
      [[forCarol.id, bob, "for carol, who never logged in"]],
    );
    // alice comes back with the last id she saw: exactly what came after it, in order, on
    // either host.
    const onA = await connectAs(a().url, alice, { transport: "websocket", since: first.id });
    const onB = await connectAs(b().url, alice, { transport: "polling", since: first.id });
    for (const client of [onA, onB]) {
      const replayed = await waitForMessages(client, (m) => m.length === 3);
      assert.deepEqual(
        replayed.map((m) => m.id),
        stored,
      );
      assert.deepEqual(
        replayed.map((m) => m.message),
        ["while away 1", "while away 2", "while away 3"],
      );
    }
    // And chat goes on between the new hosts.
    const live = await send(carolClient, alice, "welcome back");
    assert.ok(live.ok && live.status === "delivered");
    for (const client of [onA, onB]) {
      await waitForMessages(client, (m) => m.some((x) => x.id === live.id));
    }
  });

  it("Redis killed and restarted: readyz 503 and UNAVAILABLE meanwhile, then recovery by itself", async () => {
    const dora = uniqueName("dora");
    const eve = uniqueName("eve");
    const doraClient = await connectAs(a().url, dora, { transport: "websocket" });
    const eveClient = await connectAs(b().url, eve, { transport: "polling", upgrade: false });
    const before = await send(doraClient, eve, "before");
    assert.ok(before.ok && before.status === "delivered");

    await redis.kill();
    const killedAt = Date.now();
    const notReady = await Promise.all(hosts.map((h) => waitForReadyStatus(h.url, 503, 10_000)));
    const notReadyAfter = Date.now() - killedAt;
    // Nothing is acknowledged that could not be kept; the connections themselves stay up.
    const codes: ErrorCode[] = [];
    for (const [from, to] of [
      [doraClient, eve],
      [eveClient, dora],
      [doraClient, eve],
      [eveClient, dora],
    ] as [ChatClient, string][]) {
      const answer = await send(from, to, "while Redis is down");
      assert.ok(!answer.ok, `acknowledged while Redis was down: ${JSON.stringify(answer)}`);
      codes.push(answer.error.code);
    }
    assert.deepEqual(new Set(codes), new Set(["UNAVAILABLE"]));
    const list = await listUsers(doraClient);
    assert.ok(!list.ok && list.error.code === "UNAVAILABLE");
    assert.ok(doraClient.connected && eveClient.connected);

    await redis.restart(); // same port, empty: it kept nothing on disk
    const restartedAt = Date.now();
    await Promise.all(hosts.map((h) => waitForReadyStatus(h.url, 200, 20_000)));
    const readyAfter = Date.now() - restartedAt;
    // Both users registered again by their workers, without logging in again.
    await eventually(async () => {
      const answer = await listUsers(eveClient);
      assert.ok(answer.ok && answer.users.includes(dora) && answer.users.includes(eve));
    }, 20_000);
    const listedAfter = Date.now() - restartedAt;
    for (const [from, fromName, to, toName] of [
      [doraClient, dora, eveClient, eve],
      [eveClient, eve, doraClient, dora],
    ] as [ChatClient, string, ChatClient, string][]) {
      const answer = await send(from, toName, `after the restart, from ${fromName}`);
      assert.ok(answer.ok && answer.status === "delivered", JSON.stringify(answer));
      await waitForMessages(to, (m) => m.some((x) => x.id === answer.id));
    }
    console.log(
      `# Redis killed: /readyz 503 on both hosts after ${notReadyAfter} ms ` +
        `(${notReady.join(", ")} ms); Redis restarted: /readyz 200 after ${readyAfter} ms, ` +
        `presence registered again after ${listedAfter} ms`,
    );
  });
});
