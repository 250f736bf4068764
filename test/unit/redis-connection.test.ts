import assert from "node:assert/strict";
import { test } from "node:test";
import { describeTarget } from "../../src/routing/redis-connection.js";
import { makeWorkerKey, RedisKeys } from "../../src/routing/redis-keys.js";

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
    keys.presence("bob"),
    keys.online,
    keys.workers,
    keys.workerUsers(worker),
    keys.deliver(worker),
  ]) {
    assert.ok(name.startsWith("chat-x:"), name);
  }
  assert.equal(keys.inbox("__proto__"), "chat-x:inbox:{__proto__}");
});
