/**
 * The Redis back-end on a real Redis Cluster (3 masters + 3 replicas, started once for the
 * file): two back-ends with different node ids play two hosts. Each test uses its own prefix.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { RedisKeys } from "../../src/redis/keys.js";
import { keySlot } from "../../src/redis/slots.js";
import type { RedisBackend } from "../../src/routing/redis-backend.js";
import { randomPrefix, startHost, type TestHost } from "../helpers/redis-backend.js";
import { type RedisCluster, startRedisCluster } from "../helpers/redis-cluster.js";
import { waitFor } from "../helpers/wait.js";

let cluster: RedisCluster;
const hosts: TestHost[] = [];

before(async () => {
  cluster = await startRedisCluster(3);
});

after(async () => {
  await Promise.all(hosts.map((h) => h.backend.close()));
  await cluster.stop();
});

async function host(prefix: string, nodeId: string): Promise<TestHost> {
  const started = await startHost({
    cluster: cluster.seeds.split(","),
    prefix,
    nodeId,
  });
  hosts.push(started);
  return started;
}

describe("Redis back-end on a Redis Cluster", () => {
  test("delivers across hosts both ways, and replays since an id and what was stored", async () => {
    const prefix = randomPrefix();
    const [a, b] = await Promise.all([host(prefix, "host-a"), host(prefix, "host-b")]);
    assert.deepEqual(await a.login("alice"), []);
    assert.deepEqual(await b.login("bob"), []);
    const toBob = await a.backend.send("alice", "bob", "hi bob");
    const toAlice = await b.backend.send("bob", "alice", "hi alice");
    assert.equal(toBob.status, "delivered");
    assert.equal(toAlice.status, "delivered");
    assert.deepEqual(await b.waitFor("bob", 1), [toBob.message]);
    assert.deepEqual(await a.waitFor("alice", 1), [toAlice.message]);

    // carol is offline: stored, then replayed once at her log in, and again with since.
    const stored = [];
    for (let i = 0; i < 3; i++) stored.push(await a.backend.send("alice", "carol", `c${i}`));
    assert.ok(stored.every((s) => s.status === "stored"));
    const messages = stored.map((s) => s.message);
    assert.deepEqual(await b.login("carol"), messages);
    assert.deepEqual(await b.backend.replay("carol", undefined), []);
    assert.deepEqual(await b.backend.replay("carol", messages[0]?.id), messages.slice(1));
  });

  test("inboxes spread over every master, and list users finds users on every shard", async () => {
    const prefix = randomPrefix();
    const [a, b] = await Promise.all([host(prefix, "host-a"), host(prefix, "host-b")]);
    const users = Array.from({ length: 30 }, (_, i) => `user${String(i).padStart(2, "0")}`);
    for (const [i, user] of users.entries()) await (i % 2 ? a : b).login(user);
    await Promise.all(users.map((user) => a.backend.send("zed", user, `to ${user}`)));

    const masters = await cluster.masterPorts();
    assert.equal(masters.length, 3);
    const owners = new Set(
      await cluster.mastersOf(users.map((user) => keySlot(`${prefix}:inbox:{${user}}`))),
    );
    assert.deepEqual([...owners].sort(), masters, "every master holds inboxes");
    for (const port of masters) {
      const raw = new Redis({ host: "127.0.0.1", port, lazyConnect: true });
      await raw.connect();
      const [, keys] = await raw.scan("0", "MATCH", `${prefix}:inbox:*`, "COUNT", 10_000);
      raw.disconnect();
      assert.ok(keys.length > 0, `master ${port} holds no inbox`);
    }

    assert.deepEqual(await b.backend.listUsers(1000), users);
    assert.deepEqual(await a.backend.listUsers(5), users.slice(0, 5));
    a.backend.removePresence("user01");
    await waitForList(b, (list) => !list.includes("user01"));
  });

  test("a sender's copy shares the message id and counts as seen by the sender", async () => {
    const prefix = randomPrefix();
    const [a, b] = await Promise.all([host(prefix, "host-a"), host(prefix, "host-b")]);
    await a.login("dana");
    await b.login("dana");
    await b.login("eric");
    const sender = a.backend as RedisBackend;
    const sent = await sender.send("dana", "eric", "hello", "session-1");
    assert.equal(sent.status, "delivered");
    // Replays of both inboxes since the start hold the message under the same id.
    assert.deepEqual(await a.backend.replay("dana", "0-0"), [sent.message]);
    assert.deepEqual(await b.backend.replay("eric", "0-0"), [sent.message]);
    // A log in without since replays nothing for dana: her own message counts as seen.
    assert.deepEqual(await b.login("dana"), []);
  });

  test("batches that overlap reach a device in order, however slow a node one of them waits for", async () => {
    const prefix = randomPrefix();
    const [a, b] = await Promise.all([host(prefix, "host-a"), host(prefix, "host-b")]);
    // Users placed so that one master holds carol's inbox but not alice's, bob's or b's channel:
    // pausing its writes holds up a batch that stores for carol, not the next one (bob only).
    const channel = new RedisKeys(prefix).deliver((b.backend as RedisBackend).worker);
    const [channelMaster] = await cluster.mastersOf([keySlot(channel)]);
    const masters = await cluster.masterPorts();
    const slow = masters.find((port) => port !== channelMaster) ?? 0;
    const masterOf = async (user: string) =>
      (await cluster.mastersOf([keySlot(`${prefix}:inbox:{${user}}`)]))[0];
    const pick = async (stem: string, onSlow: boolean) => {
      for (let i = 0; ; i++) {
        if (((await masterOf(`${stem}${i}`)) === slow) === onSlow) return `${stem}${i}`;
      }
    };
    const [alice, bob, carol] = [
      await pick("alice", false),
      await pick("bob", false),
      await pick("carol", true),
    ];
    await a.login(alice);
    await b.login(bob);
    const paused = new Redis({ host: "127.0.0.1", port: slow, lazyConnect: true });
    const probe = new Redis({
      host: "127.0.0.1",
      port: (await masterOf(bob)) ?? 0,
      lazyConnect: true,
    });
    await Promise.all([paused.connect(), probe.connect()]);
    try {
      await paused.call("CLIENT", "PAUSE", "5000", "WRITE");
      // Batch 1: m1 for bob, and one for carol that waits for the paused master.
      const first = [a.backend.send(alice, bob, "m1"), a.backend.send(alice, carol, "x")];
      await waitFor("m1 stored", async () => (await probe.xlen(`${prefix}:inbox:{${bob}}`)) === 1);
      // Batch 2: m2 for bob only, stored while batch 1 still waits.
      const second = a.backend.send(alice, bob, "m2");
      await waitFor("m2 stored", async () => (await probe.xlen(`${prefix}:inbox:{${bob}}`)) === 2);
      await paused.call("CLIENT", "UNPAUSE");
      await Promise.all([...first, second]);
      await b.waitFor(bob, 2);
      assert.deepEqual(
        b.to(bob).map((m) => m.message),
        ["m1", "m2"],
      );
    } finally {
      await paused.call("CLIENT", "UNPAUSE").catch(() => {});
      paused.disconnect();
      probe.disconnect();
    }
  });

  test("a master demoted by a fail-over: sends go on while the client still takes it for one", async () => {
    const prefix = randomPrefix();
    const a = await host(prefix, "host-a");
    await a.login("alice");
    await a.login("bob");
    assert.equal((await a.backend.send("alice", "bob", "before")).status, "delivered");
    // A manual fail-over: bob's master becomes a replica of its replica. The back-end's slot
    // map says otherwise until its next refresh, so WAIT may still go to the old master.
    const [oldMaster] = await cluster.mastersOf([keySlot(`${prefix}:inbox:{bob}`)]);
    const admin = new Redis({ host: "127.0.0.1", port: oldMaster ?? 0, lazyConnect: true });
    await admin.connect();
    const id = String(await admin.call("CLUSTER", "MYID"));
    const [replicaLine] = (await admin.call("CLUSTER", "REPLICAS", id)) as string[];
    admin.disconnect();
    const replicaPort = Number(replicaLine?.split(" ")[1]?.split("@")[0]?.split(":")[1]);
    const replica = new Redis({ host: "127.0.0.1", port: replicaPort, lazyConnect: true });
    await replica.connect();
    try {
      await replica.call("CLUSTER", "FAILOVER");
      await waitFor("the replica promoted", async () =>
        (await replica.info("replication")).includes("role:master"),
      );
    } finally {
      replica.disconnect();
    }
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await a.backend.send("alice", "bob", `after ${i}`));
    assert.ok(sent.every((s) => s.status === "delivered"));
    await a.waitFor("bob", 6);
    await cluster.waitHealthy();
  });
});

async function waitForList(host: TestHost, check: (users: string[]) => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const users = await host.backend.listUsers(1000);
    if (check(users)) return;
    if (Date.now() > deadline) throw new Error(`list never matched: ${users.join()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
