/**
 * The Redis back-end against a real redis-server: two back-ends with different node ids play
 * two hosts sharing one Redis. Each test uses its own key prefix.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { compareMessageIds, parseMessageId } from "../../src/inbox/message-id.js";
import { probeRedis } from "../../src/redis/connection.js";
import { createRedisBackend } from "../../src/routing/redis-backend.js";
import { randomPrefix, startHost, type TestHost } from "../helpers/redis-backend.js";
import { freePort, type RedisProcess, startRedis } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";

let redis: RedisProcess;
const hosts: TestHost[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await Promise.all(hosts.map((h) => h.backend.close()));
  await redis.stop();
});

async function twoHosts(prefix = randomPrefix()): Promise<[TestHost, TestHost]> {
  const pair = await Promise.all([
    startHost({ url: redis.url, prefix, nodeId: "host-a:3000" }),
    startHost({ url: redis.url, prefix, nodeId: "host-b:3000" }),
  ]);
  hosts.push(...pair);
  return pair;
}

function ids(messages: { id: string }[]): string[] {
  return messages.map((m) => m.id);
}

function assertAscending(list: string[]): void {
  for (let i = 1; i < list.length; i++) {
    const a = parseMessageId(list[i - 1]);
    const b = parseMessageId(list[i]);
    assert.ok(
      a && b && compareMessageIds(a, b) < 0,
      `ids not ascending: ${list[i - 1]} ${list[i]}`,
    );
  }
}

describe("Redis back-end, two hosts on one Redis", () => {
  test("delivers across hosts both ways, touching no idle host", async () => {
    const prefix = randomPrefix();
    const [a, b] = await twoHosts(prefix);
    const idle = await startHost({ url: redis.url, prefix, nodeId: "idle:3000" });
    hosts.push(idle);
    assert.deepEqual(await a.login("alice"), []);
    assert.deepEqual(await b.login("bob"), []);
    assert.ok(a.backend.isReady() && b.backend.isReady());

    const before = Date.now();
    const sent = await a.backend.send("alice", "bob", "hi bob");
    assert.equal(sent.status, "delivered");
    assert.ok(parseMessageId(sent.message.id), sent.message.id);
    assert.ok(sent.message.sentAt >= before && sent.message.sentAt <= Date.now());
    const [got] = await b.waitFor("bob", 1);
    assert.deepEqual(got, sent.message);
    assert.deepEqual(got, {
      id: sent.message.id,
      from: "alice",
      to: "bob",
      message: "hi bob",
      sentAt: got?.sentAt,
    });

    const back = await b.backend.send("bob", "alice", "hi alice ✓");
    assert.equal(back.status, "delivered");
    assert.deepEqual(await a.waitFor("alice", 1), [back.message]);
    assert.equal(idle.received.length, 0);
    assert.equal(a.to("bob").length, 0, "a host without bob got his message");
  });

  test("stores for an offline user and replays it after log in, once", async () => {
    const [a, b] = await twoHosts();
    const first = await a.backend.send("alice", "carol", "one");
    const second = await a.backend.send("alice", "carol", "two");
    assert.equal(first.status, "stored");
    assert.equal(second.status, "stored");
    assert.deepEqual(await b.login("carol"), [first.message, second.message]);
    // A second session of carol (no addPresence: the worker already holds her) gets nothing again.
    assert.deepEqual(await b.backend.replay("carol", undefined), []);
    const live = await a.backend.send("alice", "carol", "three");
    assert.equal(live.status, "delivered");
    assert.deepEqual(await b.waitFor("carol", 1), [live.message]);
    // Logging out and in again on the other host: nothing was missed, nothing to replay.
    b.backend.removePresence("carol");
    assert.deepEqual(await a.login("carol"), []);
  });

  test("replays every kept message after `since`, oldest first", async () => {
    const [a, b] = await twoHosts();
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push((await a.backend.send("alice", "dave", `m${i}`)).message);
    assertAscending(ids(sent));
    assert.deepEqual(await b.login("dave", sent[1]?.id), sent.slice(2));
    assert.deepEqual(await b.backend.replay("dave", "0-0"), sent);
    assert.deepEqual(await b.backend.replay("dave", sent[4]?.id), []);
    // An id that is not one is ignored: the replay is of the undelivered ones (none left).
    assert.deepEqual(await b.backend.replay("dave", "not-an-id"), []);
  });

  test("keeps at least the newest 1000 and replays the newest 1000 stored", async () => {
    const [a, b] = await twoHosts();
    const sent = await Promise.all(
      Array.from({ length: 1100 }, (_, i) => a.backend.send("alice", "gina", `n${i}`)),
    );
    const replayed = await b.login("gina");
    assert.equal(replayed.length, 1000);
    assert.deepEqual(ids(replayed), ids(sent.slice(100).map((r) => r.message)));
    assert.deepEqual(await b.backend.replay("gina", undefined), []);
    const kept = await b.backend.replay("gina", "0-0");
    assert.equal(kept.length, 1000, "a since-replay returns up to 1000, oldest first");
    const newest = await b.backend.replay("gina", sent[99]?.message.id);
    assert.deepEqual(ids(newest), ids(replayed));
  });

  test("inbox and cursor expire 7 days after the newest write, all keys under the prefix", async () => {
    const prefix = randomPrefix();
    const [a, b] = await twoHosts(prefix);
    await b.login("hank");
    await a.backend.send("alice", "hank", "hi");
    const raw = new Redis(redis.url, { lazyConnect: true });
    try {
      await raw.connect();
      const week = 7 * 24 * 3600 * 1000;
      // The cursor is written when it settles: here, as hank's last session leaves.
      b.backend.removePresence("hank");
      const cursor = `${prefix}:cursor:{hank}`;
      await waitFor("hank's cursor", async () => (await raw.exists(cursor)) === 1);
      assert.equal(
        await raw.get(cursor),
        (await raw.xrevrange(`${prefix}:inbox:{hank}`, "+", "-"))[0]?.[0],
      );
      for (const key of [`${prefix}:inbox:{hank}`, cursor]) {
        const ttl = await raw.pttl(key);
        assert.ok(ttl > week - 60_000 && ttl <= week + 3_600_000, `${key}: ${ttl}`);
      }
      const all = await raw.keys("*");
      const ours = all.filter((k) => k.startsWith(`${prefix}:`));
      // hank's inbox and cursor, the registry of workers (hank has left: no presence).
      assert.ok(ours.length >= 3, ours.join());
      assert.deepEqual(
        all.filter((k) => !k.startsWith("test-")),
        [],
        "a key outside every test prefix",
      );
    } finally {
      raw.disconnect();
    }
  });

  test("a log in replays what the user received while away, never what they sent", async () => {
    const [a, b] = await twoHosts();
    // Stored while lara is away, then a copy of one she sends from a session (her cursor stays).
    const away = await b.backend.send("mona", "lara", "while away");
    assert.equal(away.status, "stored");
    const sent = await a.backend.send("lara", "nils", "sent by lara", "session-1");
    assert.deepEqual(await b.login("lara"), [away.message]);
    assert.deepEqual(await a.login("lara"), [], "a second log in: nothing new");
    assert.deepEqual(await a.backend.replay("lara", "0-0"), [away.message, sent.message]);
  });

  test("an inbox left by an earlier version reads the same (its copies moved the cursor)", async () => {
    const prefix = randomPrefix();
    const [a] = await twoHosts(prefix);
    const raw = new Redis(redis.url, { lazyConnect: true });
    try {
      await raw.connect();
      const week = 7 * 24 * 3600 * 1000;
      const inbox = `${prefix}:inbox:{quinn}`;
      const cursor = `${prefix}:cursor:{quinn}`;
      // As earlier versions wrote it: a received message, a copy of a sent one with the cursor
      // moved to it, both keys expiring 7 days after the last write, then one stored while away.
      await raw.xadd(inbox, "*", "f", "rita", "m", "received", "s", "1");
      const copy = (await raw.xadd(inbox, "*", "t", "rita", "m", "sent", "s", "2")) as string;
      await raw.set(cursor, copy, "PX", week);
      await raw.pexpire(inbox, week);
      await raw.xadd(inbox, "*", "f", "rita", "m", "while away", "s", "3");
      const texts = (messages: { message: string }[]) => messages.map((m) => m.message);
      assert.deepEqual(texts(await a.login("quinn")), ["while away"]);
      assert.deepEqual(texts(await a.backend.replay("quinn", "0-0")), [
        "received",
        "sent",
        "while away",
      ]);
      await a.backend.send("rita", "quinn", "new");
      for (const key of [inbox, cursor]) {
        const ttl = await raw.pttl(key);
        assert.ok(ttl > week && ttl <= week + 3_600_000, `${key}: ${ttl}`);
      }
    } finally {
      raw.disconnect();
    }
  });

  test("an inbox written again and again keeps at least 7 days, renewed once per hour", async () => {
    const prefix = randomPrefix();
    const [a, b] = await twoHosts(prefix);
    await b.login("olga");
    const raw = new Redis(redis.url, { lazyConnect: true });
    try {
      await raw.connect();
      const week = 7 * 24 * 3600 * 1000;
      const key = `${prefix}:inbox:{olga}`;
      // A cursor from an earlier log in, renewed along with the inbox.
      await raw.set(`${prefix}:cursor:{olga}`, "0-1", "PX", week - 1000);
      await a.backend.send("pia", "olga", "first", "session-1");
      // Shorten the expiry by hand: the next writes of this worker within the hour leave it alone.
      await raw.pexpire(key, week - 1000);
      await a.backend.send("pia", "olga", "second", "session-1");
      assert.ok((await raw.pttl(key)) <= week - 1000, "renewed on the second write");
      // Another worker renews it at its first write (and the cursor with it).
      await b.backend.send("pia", "olga", "third");
      for (const k of [key, `${prefix}:cursor:{olga}`, `${prefix}:inbox:{pia}`]) {
        const ttl = await raw.pttl(k);
        assert.ok(ttl > week && ttl <= week + 3_600_000, `${k}: ${ttl}`);
      }
    } finally {
      raw.disconnect();
    }
  });

  test("a log in after the last session left replays only what came after", async () => {
    const prefix = randomPrefix();
    const [a, b] = await twoHosts(prefix);
    await b.login("vera");
    assert.equal((await a.backend.send("walt", "vera", "seen")).status, "delivered");
    b.backend.removePresence("vera");
    const raw = new Redis(redis.url, { lazyConnect: true });
    try {
      await raw.connect();
      await waitFor(
        "vera offline",
        async () => (await raw.exists(`${prefix}:presence:{vera}`)) === 0,
      );
    } finally {
      raw.disconnect();
    }
    const away = await a.backend.send("walt", "vera", "away");
    assert.equal(away.status, "stored");
    assert.deepEqual(await a.login("vera"), [away.message]);
  });

  test("what no live worker took while a worker held the user is replayed at the next log in", async () => {
    const prefix = randomPrefix();
    const [a, b] = await twoHosts(prefix);
    await b.login("ursula");
    assert.equal((await a.backend.send("mallory", "ursula", "seen")).status, "delivered");
    const raw = new Redis(redis.url, { lazyConnect: true });
    try {
      await raw.connect();
      // A worker that holds her but reads nothing (its subscriber gone), then b's session leaves.
      const presence = `${prefix}:presence:{ursula}`;
      await raw.hset(presence, "gone#1#00000000", `${prefix}:deliver:{gone#1#00000000}`);
      b.backend.removePresence("ursula");
      await waitFor("b's entry removed", async () => (await raw.hlen(presence)) === 1);
      const missed = await a.backend.send("mallory", "ursula", "missed");
      assert.equal(missed.status, "stored");
      const later = await a.backend.send("mallory", "ursula", "later");
      // Her next log in (the silent worker still listed) replays both, not what b took.
      assert.deepEqual(ids(await a.login("ursula")), ids([missed.message, later.message]));
      assert.deepEqual(await b.login("ursula"), [], "a second log in: nothing new");
    } finally {
      raw.disconnect();
    }
  });

  test("keeps the order of a burst of 200 from one sender", async () => {
    const [a, b] = await twoHosts();
    await b.login("bob");
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => a.backend.send("alice", "bob", `burst ${i}`)),
    );
    assert.ok(results.every((r) => r.status === "delivered"));
    const got = await b.waitFor("bob", 200);
    assert.deepEqual(
      got.map((m) => m.message),
      results.map((_, i) => `burst ${i}`),
    );
    assertAscending(ids(got));
    assert.deepEqual(ids(got), ids(results.map((r) => r.message)));
  });

  test("a burst to many recipients, split over several Redis calls, keeps each one's order and status", async () => {
    // 600 sends in one event-loop turn: more than one batch holds (256), to a user on the sending
    // host, one on the other host, one on both, and one offline, interleaved.
    const [a, b] = await twoHosts();
    await a.login("hana");
    await b.login("ivan");
    await a.login("jo");
    await b.login("jo");
    const recipients = ["hana", "ivan", "jo", "kim"];
    const results = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        a.backend.send("zed", recipients[i % 4] as string, `m${i}`),
      ),
    );
    const texts = (user: string) =>
      results.filter((r) => r.message.to === user).map((r) => r.message.message);
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, i % 4 === 3 ? "stored" : "delivered", `message ${i}`);
    }
    assert.deepEqual(
      (await a.waitFor("hana", 150)).map((m) => m.message),
      texts("hana"),
    );
    assert.deepEqual(
      (await b.waitFor("ivan", 150)).map((m) => m.message),
      texts("ivan"),
    );
    assert.deepEqual(
      (await a.waitFor("jo", 150)).map((m) => m.message),
      texts("jo"),
    );
    assert.deepEqual(
      (await b.waitFor("jo", 150)).map((m) => m.message),
      texts("jo"),
    );
    assert.equal(
      a.to("ivan").length + b.to("hana").length,
      0,
      "delivered to a host without the user",
    );
    assertAscending(ids(results.filter((r) => r.message.to === "kim").map((r) => r.message)));
    const replayed = await b.login("kim");
    assert.deepEqual(
      replayed.map((m) => m.message),
      texts("kim"),
    );
    assert.deepEqual(await b.login("kim"), [], "replayed twice");
  });

  test("delivers to every host where the user has a session", async () => {
    const [a, b] = await twoHosts();
    await a.login("erin");
    await b.login("erin");
    await a.login("frank");
    const sent = await a.backend.send("frank", "erin", "to all devices");
    assert.equal(sent.status, "delivered");
    assert.deepEqual(await a.waitFor("erin", 1), [sent.message]);
    assert.deepEqual(await b.waitFor("erin", 1), [sent.message]);
    // Still online on one host after logging out on the other.
    a.backend.removePresence("erin");
    const next = await b.backend.send("frank", "erin", "b only");
    assert.equal(next.status, "delivered");
    assert.deepEqual(await b.waitFor("erin", 2), [sent.message, next.message]);
    assert.equal(a.to("erin").length, 1);
    assert.deepEqual(await a.backend.listUsers(1000), ["erin", "frank"]);
  });

  test("lists online users of all hosts, sorted and limited", async () => {
    const [a, b] = await twoHosts();
    await Promise.all([
      a.login("zoe"),
      b.login("Bob"),
      a.login("adam"),
      b.login("adam"),
      b.login("m.x-1"),
    ]);
    assert.deepEqual(await a.backend.listUsers(1000), ["Bob", "adam", "m.x-1", "zoe"]);
    assert.deepEqual(await b.backend.listUsers(2), ["Bob", "adam"]);
    assert.deepEqual(await b.backend.listUsers(0), []);
    a.backend.removePresence("zoe");
    a.backend.removePresence("adam");
    // The removals go out on a's connection, the listing on b's: either may reach Redis first.
    const remaining = ["Bob", "adam", "m.x-1"].join();
    await waitFor("zoe gone", async () => (await b.backend.listUsers(1000)).join() === remaining);
    await b.backend.close();
    assert.deepEqual(await a.backend.listUsers(1000), []);
  });

  test("keeps inboxes when every host goes away", async () => {
    const prefix = randomPrefix();
    const [a, b] = await twoHosts(prefix);
    await b.login("bob");
    const live = await a.backend.send("alice", "bob", "seen");
    b.backend.removePresence("bob");
    const stored = await a.backend.send("alice", "bob", "unseen");
    assert.equal(stored.status, "stored");
    await Promise.all([a.backend.close(), b.backend.close()]);

    const [c, d] = await twoHosts(prefix);
    assert.deepEqual(await c.backend.listUsers(10), []);
    assert.deepEqual(await d.login("bob"), [stored.message]);
    assert.deepEqual(await c.backend.replay("bob", "0-0"), [live.message, stored.message]);
  });

  test("treats __proto__, constructor and toString as ordinary usernames", async () => {
    const [a, b] = await twoHosts();
    const names = ["__proto__", "constructor", "toString", "hasOwnProperty"];
    const stored = await a.backend.send("constructor", "__proto__", "early");
    assert.equal(stored.status, "stored");
    assert.deepEqual(await b.login("__proto__"), [stored.message]);
    for (const name of names.slice(1)) await a.login(name);
    assert.deepEqual(await b.backend.listUsers(10), [...names].sort());
    const sent = await a.backend.send("toString", "__proto__", "hi");
    assert.equal(sent.status, "delivered");
    assert.deepEqual(await b.waitFor("__proto__", 1), [sent.message]);
    const local = await a.backend.send("__proto__", "constructor", "local");
    assert.deepEqual(await a.waitFor("constructor", 1), [local.message]);
    assert.deepEqual(await a.backend.replay("constructor", "0-0"), [local.message]);
  });

  test("start fails fast with one line naming the address when Redis is unreachable", async () => {
    const port = await freePort();
    const backend = createRedisBackend({
      url: `redis://127.0.0.1:${port}`,
      masterName: "mymaster",
      prefix: randomPrefix(),
      nodeId: "nowhere",
      workerId: 1,
      startTimeoutMs: 1000,
    });
    const started = Date.now();
    await assert.rejects(backend.start(), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^cannot reach Redis at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
      );
      assert.ok(!err.message.includes("\n"));
      return true;
    });
    assert.ok(Date.now() - started < 3000);
    assert.equal(backend.isReady(), false);
    await backend.close();
  });

  test("probeRedis answers for a live Redis and names the address of a dead one", async () => {
    await probeRedis({ url: redis.url, masterName: "mymaster" }, 2000);
    const port = await freePort();
    await assert.rejects(
      probeRedis({ url: `127.0.0.1:${port}`, masterName: "mymaster" }, 500),
      new RegExp(`^Error: cannot reach Redis at 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`),
    );
  });
});
