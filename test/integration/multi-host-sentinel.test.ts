/**
 * Two real hosts (`bin/chat-server start --redis-sentinels`, 2 workers each) on a Redis master
 * with one replica and one Sentinel (quorum 1, down after 1000 ms). Killing the master with -9
 * must let chat resume on the promoted replica without restarting any host, and lose no message
 * acknowledged before the kill.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { ChatServer } from "../helpers/chat-server.js";
import {
  closeAll,
  connectAs,
  connectTracking,
  listUsers,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { startHost, waitForReadyStatus } from "../helpers/multi-host.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { type RedisProcess, startRedis, startSentinel } from "../helpers/redis-server.js";

const MASTER = "chat-primary";

import { eventually, NotYet, waitFor } from "../helpers/wait.js";

describe("two hosts through Redis Sentinel", () => {
  const processes: RedisProcess[] = [];
  const probes: Redis[] = [];
  let master: RedisProcess;
  let replica: RedisProcess;
  let hosts: ChatServer[] = [];

  function redisClient(port: number): Redis {
    const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0 });
    client.on("error", () => {});
    probes.push(client);
    return client;
  }

  before(async () => {
    master = await startRedis();
    replica = await startRedis({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
    // Not the default name: --redis-master must be passed on for the hosts to find it.
    const sentinel = await startSentinel({
      masterPort: master.port,
      masterName: MASTER,
      downAfterMs: 1000,
    });
    processes.push(master, replica, sentinel);
    const toReplica = redisClient(replica.port);
    const toSentinel = redisClient(sentinel.port);
    await waitFor("the replica in sync", async () =>
      (await toReplica.info("replication")).includes("master_link_status:up"),
    );
    // Sentinel can only promote a replica it has discovered (from the master's INFO, every 10 s
    // at first): wait for it before anything depends on a fail-over.
    await waitFor(
      "the Sentinel to know the replica",
      async () => {
        const replicas = (await toSentinel.call("SENTINEL", "REPLICAS", MASTER)) as string[][];
        return replicas.some((fields) => fields[fields.indexOf("flags") + 1] === "slave");
      },
      15_000,
      100,
    );
    const prefix = randomPrefix();
    const redisArgs = ["--redis-sentinels", `127.0.0.1:${sentinel.port}`, "--redis-master", MASTER];
    hosts = await Promise.all(
      ["host-a", "host-b"].map((nodeId) => startHost({ redis: redisArgs, prefix, nodeId })),
    );
  });

  after(async () => {
    closeAll();
    for (const probe of probes) probe.disconnect();
    await Promise.all(hosts.map((h) => h.stop()));
    await Promise.all(processes.map((p) => p.stop()));
  });

  it("kill -9 of the master: chat resumes on the promoted replica, no host restarted", async () => {
    const [a, b] = hosts as [ChatServer, ChatServer];
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const aliceClient = await connectAs(a.url, alice, { transport: "websocket" });
    // bob tracks ids and logs in again with `since` whenever he reconnects.
    const bobClient = connectTracking(b.url, bob, { transport: "polling", upgrade: false });
    await eventually(() => assert.ok(bobClient.logins >= 1));
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const answer = await send(aliceClient, bob, `before ${i}`);
      assert.ok(answer.ok && answer.status === "delivered", JSON.stringify(answer));
      acked.push(answer.id);
    }
    await eventually(() => assert.equal(bobClient.unique.size, 20));

    await master.kill();
    const killedAt = Date.now();
    let refused = 0;
    let firstOk = -1;
    await eventually(
      async () => {
        const answer = await send(aliceClient, bob, "after the fail-over");
        if (!answer.ok) {
          // UNAVAILABLE is "not yet"; any other answer is wrong and fails the test at once.
          if (answer.error.code !== "UNAVAILABLE") throw new Error(JSON.stringify(answer));
          refused++;
          throw new NotYet("UNAVAILABLE");
        }
        acked.push(answer.id);
        firstOk = Date.now() - killedAt;
      },
      30_000,
      100,
    );
    await Promise.all(hosts.map((h) => waitForReadyStatus(h.url, 200, 20_000)));
    const readyAfter = Date.now() - killedAt;
    // Live delivery again: bob's worker registered his presence on the new master.
    await eventually(async () => {
      const answer = await send(aliceClient, bob, "live again");
      if (!answer.ok) throw new Error(`refused after the fail-over: ${JSON.stringify(answer)}`);
      acked.push(answer.id);
      assert.equal(answer.status, "delivered");
    }, 20_000);
    const liveAfter = Date.now() - killedAt;
    await eventually(() =>
      assert.deepEqual(
        acked.filter((id) => !bobClient.unique.has(id)),
        [],
        "acknowledged messages missing",
      ),
    );
    const reply = await send(bobClient, alice, "got them all");
    assert.ok(reply.ok && reply.status === "delivered");
    await waitForMessages(aliceClient, (m) => m.some((x) => x.id === reply.id));
    const users = await listUsers(aliceClient);
    assert.ok(users.ok && users.users.includes(alice) && users.users.includes(bob));
    assert.ok((await redisClient(replica.port).info("replication")).includes("role:master"));
    console.log(
      `# Sentinel fail-over (down-after 1000 ms): first send ok ${firstOk} ms after kill -9 of ` +
        `the master (${refused} UNAVAILABLE before), both hosts ready after ${readyAfter} ms, ` +
        `live delivery after ${liveAfter} ms`,
    );
  });
});
