/**
 * Two real hosts (`bin/chat-server start --redis-cluster`, 2 workers each) on a real Redis
 * Cluster of 3 masters + 3 replicas (cluster-node-timeout 1000 ms), started once for the file.
 * Chat across hosts, a master killed under traffic, a slot moved under traffic, every host
 * restarted, and unreachable seeds at start-up.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { keySlot } from "../../src/redis/slots.js";
import { type ChatServer, CLI } from "../helpers/chat-server.js";
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
import { type RedisCluster, startRedisCluster } from "../helpers/redis-cluster.js";
import { eventually, waitFor } from "../helpers/wait.js";

describe("two hosts on a Redis Cluster", () => {
  let cluster: RedisCluster;
  let hosts: ChatServer[] = [];
  const prefix = randomPrefix();
  const admins: Redis[] = [];

  function admin(port: number): Redis {
    const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0 });
    client.on("error", () => {});
    admins.push(client);
    return client;
  }

  const startHosts = () =>
    Promise.all(
      ["host-a", "host-b"].map((nodeId) =>
        startHost({ redis: ["--redis-cluster", cluster.seeds], prefix, nodeId }),
      ),
    );

  before(async () => {
    cluster = await startRedisCluster(3);
    hosts = await startHosts();
  });

  after(async () => {
    closeAll();
    for (const client of admins) client.disconnect();
    await Promise.all(hosts.map((h) => h.stop()));
    await cluster.stop();
  });

  it("chat across hosts both ways, one client on polling; list users across shards", async () => {
    const [a, b] = hosts as [ChatServer, ChatServer];
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const aliceClient = await connectAs(a.url, alice, { transport: "polling" });
    const bobClient = await connectAs(b.url, bob, { transport: "websocket" });
    const toBob = await send(aliceClient, bob, "hello bob");
    assert.ok(toBob.ok && toBob.status === "delivered", JSON.stringify(toBob));
    const toAlice = await send(bobClient, alice, "hello alice");
    assert.ok(toAlice.ok && toAlice.status === "delivered", JSON.stringify(toAlice));
    const [got] = await waitForMessages(bobClient, (m) => m.length === 1);
    assert.equal(got?.id, toBob.id);
    const [back] = await waitForMessages(aliceClient, (m) => m.length === 1);
    assert.equal(back?.id, toAlice.id);

    // Users whose presence lives on every master: all of them listed, sorted.
    const others = Array.from({ length: 12 }, (_, i) => uniqueName(`u${i}`));
    for (const [i, name] of others.entries()) await connectAs(hosts[i % 2]?.url ?? "", name);
    const owners = await cluster.mastersOf(
      [alice, bob, ...others].map((u) => keySlot(`${prefix}:presence:{${u}}`)),
    );
    assert.equal(new Set(owners).size, 3, "the users' presence spreads over the 3 masters");
    const users = await listUsers(aliceClient);
    assert.ok(users.ok);
    assert.deepEqual(users.users, [alice, bob, ...others].sort());
  });

  it("kill -9 of a master under traffic: chat resumes, no acknowledged message lost", async () => {
    const [a, b] = hosts as [ChatServer, ChatServer];
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const aliceClient = await connectAs(a.url, alice, { transport: "websocket" });
    const bobClient = connectTracking(b.url, bob, { transport: "polling", upgrade: false });
    await eventually(() => assert.ok(bobClient.logins >= 1));
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const answer = await send(aliceClient, bob, `before ${i}`);
      assert.ok(answer.ok && answer.status === "delivered", JSON.stringify(answer));
      acked.push(answer.id);
    }
    await eventually(() => assert.equal(bobClient.unique.size, 20));

    // The master holding bob's inbox dies while alice keeps sending.
    const [victim] = await cluster.mastersOf([keySlot(`${prefix}:inbox:{${bob}}`)]);
    let sending = true;
    let refused = 0;
    const traffic = (async () => {
      for (let i = 0; sending; i++) {
        const answer = await send(aliceClient, bob, `during ${i}`);
        if (answer.ok) acked.push(answer.id);
        else {
          assert.equal(answer.error.code, "UNAVAILABLE");
          refused++;
        }
      }
    })();
    await cluster.node(victim ?? 0).kill();
    const killedAt = Date.now();
    let firstOk = -1;
    await eventually(
      async () => {
        const answer = await send(aliceClient, bob, "after the fail-over");
        assert.ok(answer.ok, "not yet");
        acked.push(answer.id);
        firstOk = Date.now() - killedAt;
      },
      30_000,
      100,
    );
    await Promise.all(hosts.map((h) => waitForReadyStatus(h.url, 200, 20_000)));
    const readyAfter = Date.now() - killedAt;
    await eventually(async () => {
      const answer = await send(aliceClient, bob, "live again");
      assert.ok(answer.ok, JSON.stringify(answer));
      acked.push(answer.id);
      assert.equal(answer.status, "delivered");
    }, 20_000);
    const liveAfter = Date.now() - killedAt;
    sending = false;
    await traffic;
    // bob reconnects with since when his session is cut; everything acknowledged arrives.
    await eventually(
      () =>
        assert.deepEqual(
          acked.filter((id) => !bobClient.unique.has(id)),
          [],
          "acknowledged messages missing",
        ),
      20_000,
    );
    const reply = await send(bobClient, alice, "got them all");
    assert.ok(reply.ok && reply.status === "delivered");
    await waitForMessages(aliceClient, (m) => m.some((x) => x.id === reply.id));
    console.log(
      `# Cluster fail-over (node timeout 1000 ms): first send ok ${firstOk} ms after kill -9 ` +
        `of a master (${refused} UNAVAILABLE under traffic), both hosts ready after ` +
        `${readyAfter} ms, live delivery after ${liveAfter} ms, ${acked.length} acknowledged`,
    );
    // The killed node comes back as a replica: a full cluster for the next tests.
    await cluster.node(victim ?? 0).restart();
    await cluster.waitHealthy(30_000);
  });

  it("a slot moved to another master under traffic: no client error", async () => {
    const [a, b] = hosts as [ChatServer, ChatServer];
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const aliceClient = await connectAs(a.url, alice);
    const bobClient = await connectAs(b.url, bob);
    const slot = keySlot(`${prefix}:inbox:{${bob}}`);
    const masters = await cluster.masterPorts();
    const [source] = await cluster.mastersOf([slot]);
    const target = masters.find((port) => port !== source) ?? 0;
    const from = admin(source ?? 0);
    const to = admin(target);
    const fromId = String(await from.call("CLUSTER", "MYID"));
    const toId = String(await to.call("CLUSTER", "MYID"));

    const answers: Awaited<ReturnType<typeof send>>[] = [];
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending; i++) answers.push(await send(aliceClient, bob, `m${i}`));
    })();
    await waitFor("some traffic", () => answers.length >= 10);
    await to.call("CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId);
    await from.call("CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId);
    await waitFor("traffic while migrating", () => answers.length >= 20);
    const keys = (await from.call("CLUSTER", "GETKEYSINSLOT", String(slot), "1000")) as string[];
    assert.ok(keys.length >= 2, `bob's keys: ${keys.join()}`);
    await from.call("MIGRATE", "127.0.0.1", String(target), "", "0", "5000", "KEYS", ...keys);
    await waitFor("traffic while keys moved", () => answers.length >= 30);
    for (const port of [target, source ?? 0, ...masters]) {
      await admin(port).call("CLUSTER", "SETSLOT", String(slot), "NODE", toId);
    }
    await waitFor("traffic after the move", () => answers.length >= 40);
    sending = false;
    await traffic;
    assert.deepEqual((await cluster.mastersOf([slot]))[0], target);
    const failed = answers.filter((answer) => !answer.ok);
    assert.deepEqual(failed, [], "a send failed while the slot moved");
    const ids = answers.flatMap((answer) => (answer.ok ? [answer.id] : []));
    await waitForMessages(bobClient, (m) => ids.every((id) => m.some((x) => x.id === id)));
    // Stored once each, in the order sent, whichever way each went (a call per master, or per
    // slot for what had moved).
    const inbox = (await to.call("XRANGE", `${prefix}:inbox:{${bob}}`, "-", "+")) as [
      string,
      string[],
    ][];
    assert.deepEqual(
      inbox.map(([id]) => id),
      ids,
    );
  });

  it("every host restarted: stored messages still delivered", async () => {
    const [a] = hosts as [ChatServer, ChatServer];
    const alice = uniqueName("alice");
    const carol = uniqueName("carol");
    const aliceClient = await connectAs(a.url, alice);
    const stored: string[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await send(aliceClient, carol, `while away ${i}`);
      assert.ok(answer.ok && answer.status === "stored", JSON.stringify(answer));
      stored.push(answer.id);
    }
    aliceClient.close();
    await Promise.all(hosts.map((h) => h.stop()));
    hosts = await startHosts();
    const carolClient = await connectAs(hosts[1]?.url ?? "", carol);
    const got = await waitForMessages(carolClient, (m) => m.length >= 5);
    assert.deepEqual(
      got.map((m) => m.id),
      stored,
    );
  });

  it("unreachable seeds at start-up: one line naming an address, non-zero exit", () => {
    const result = spawnSync(
      process.execPath,
      [CLI, "start", "--port", "0", "--redis-cluster", "127.0.0.1:1,127.0.0.1:2"],
      { encoding: "utf8", timeout: 20_000 },
    );
    assert.notEqual(result.status, 0);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
    assert.match(
      lines[0] ?? "",
      /^chat-server: --redis-cluster: cannot reach Redis at 127\.0\.0\.1:1,127\.0\.0\.1:2 \(Redis Cluster\): /,
    );
  });
});
