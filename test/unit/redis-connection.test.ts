import assert from "node:assert/strict";
import { test } from "node:test";
import { describeTarget } from "../../src/redis/connection.js";
import { makeWorkerKey, RedisKeys } from "../../src/redis/keys.js";
import { keySlot } from "../../src/redis/slots.js";

test("describeTarget names the address of a URL, host:port or Sentinels", () => {
  const m = { masterName: "mymaster" };
  assert.equal(describeTarget({ ...m, url: "redis://10.0.0.5:6380" }), "10.0.0.5:6380");
  assert.equal(
    describeTarget({ ...m, url: "rediss://user:pw@cache.example:6390/2" }),
    "cache.example:6390",
  );
  assert.equal(describeTarget({ ...m, url: "redis://[::1]" }), "::1:6379");
  assert.equal(describeTarget({ ...m, url: "db.local" }), "db.local:6379");
  assert.equal(
    describeTarget({
      ...m,
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
    }),
    's1:26379,s2:26380 (Sentinel master "mymaster")',
  );
});

test("every key and channel starts with the prefix", () => {
  const keys = new RedisKeys("chat-x");
  const worker = makeWorkerKey("host:3000", 2);
  assert.match(worker, /^host:3000#2#[0-9a-f]{8}$/);
  assert.notEqual(worker, makeWorkerKey("host:3000", 2));
  for (const name of [
    keys.inbox("__proto__"),
    keys.cursor("bob"),
    keys.missed("bob"),
    keys.presence("bob"),
    keys.workers,
    keys.workerUsers(worker),
    keys.deliver(worker),
  ]) {
    assert.ok(name.startsWith("chat-x:"), name);
  }
  assert.equal(keys.inbox("__proto__"), "chat-x:inbox:{__proto__}");
});

test("describeTarget names the seeds of a cluster, without credentials", () => {
  assert.equal(
    describeTarget({
      masterName: "mymaster",
      cluster: ["10.0.0.1:7000", "rediss://app:secret@10.0.0.2:7001"],
    }),
    "10.0.0.1:7000,10.0.0.2:7001 (Redis Cluster)",
  );
});

test("keySlot computes Redis Cluster's slots, hash tags included", () => {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
  assert.equal(keySlot("123456789"), 0x31c3 % 16384);
  assert.equal(keySlot("foo"), 12182);
  assert.equal(keySlot("{user1000}.following"), keySlot("{user1000}.followers"));
  assert.equal(keySlot("foo{}{bar}"), keySlot("foo{}{bar}"));
  assert.notEqual(keySlot("foo{}{bar}"), keySlot("bar"), "an empty tag hashes the whole key");
});

test("one user's keys share a slot; each worker's channel and user set share theirs", () => {
  const keys = new RedisKeys("chat");
  for (const user of ["alice", "bob", "é}x", "{}"]) {
    const slot = keySlot(keys.inbox(user));
    assert.equal(keySlot(keys.cursor(user)), slot, user);
    assert.equal(keySlot(keys.missed(user)), slot, user);
    assert.equal(keySlot(keys.presence(user)), slot, user);
  }
  const worker = makeWorkerKey("host:3000", 1);
  assert.equal(keySlot(keys.deliver(worker)), keySlot(keys.workerUsers(worker)));
  assert.equal(keys.userOfPresence(keys.presence("a}b")), "a}b");
  assert.equal(keys.userOfPresence(keys.inbox("a")), undefined);
});
