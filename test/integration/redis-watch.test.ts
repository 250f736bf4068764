/**
 * Presence subscriptions in multi-host mode: a change reaches only the workers that watch the
 * user (read from what each back-end is handed, and from the registry in Redis), the registry
 * empties when watchers leave, and a host killed with -9 (a whole chat-server host, and a lone
 * back-end process with short heartbeat timings) shows its users offline to their watchers
 * within the contract's 30 s.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { watchersKey } from "../../src/presence/redis-watch.js";
import type { PresenceEvent, TypingEvent } from "../../src/protocol.js";
import { closeAll, connectAs, emitAck, uniqueName } from "../helpers/clients.js";
import { killHost, startHost as startChatHost } from "../helpers/multi-host.js";
import { randomPrefix, startHost, type TestHost } from "../helpers/redis-backend.js";
import { type RedisProcess, startRedis } from "../helpers/redis-server.js";
import { eventually, waitFor } from "../helpers/wait.js";

let redis: RedisProcess;
let client: Redis;
const hosts: TestHost[] = [];

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

after(async () => {
  closeAll();
  await Promise.all(hosts.map((h) => h.backend.close()));
  client.disconnect();
  await redis.stop();
});

type Heard = [string, boolean][];

async function host(
  prefix: string,
  nodeId: string,
  timings = {},
): Promise<TestHost & { heard: Heard }> {
  const started = await startHost({ url: redis.url, prefix, nodeId, ...timings });
  hosts.push(started);
  const heard: Heard = [];
  started.backend.onPresence((user, online) => heard.push([user, online]));
  return Object.assign(started, { heard });
}

describe("presence subscriptions on Redis", () => {
  test("a change reaches only the workers watching the user, once per change", async () => {
    const prefix = randomPrefix();
    const [watcher, home, idle] = [
      await host(prefix, "watcher"),
      await host(prefix, "home"),
      await host(prefix, "idle"),
    ];
    assert.deepEqual(await watcher.backend.watch(["tom", "ann"]), []);
    await idle.backend.watch(["marker"]);
    await home.login("tom");
    await home.login("tom"); // a second session on the same worker: no change
    await eventually(() => assert.deepEqual(watcher.heard, [["tom", true]]));
    await idle.login("ann"); // watched by `watcher` only
    await eventually(() => assert.deepEqual(watcher.heard.at(-1), ["ann", true]));
    home.backend.removePresence("tom");
    await eventually(() => assert.deepEqual(watcher.heard.at(-1), ["tom", false]));
    // `idle` and `home` watch neither: once `idle` hears of its own marker, nothing else came.
    await home.login("marker");
    await eventually(() => assert.deepEqual(idle.heard, [["marker", true]]));
    assert.deepEqual(home.heard, []);
    assert.deepEqual(watcher.heard, [
      ["tom", true],
      ["ann", true],
      ["tom", false],
    ]);
  });

  test("the registry holds a worker only while it watches", async () => {
    const prefix = randomPrefix();
    const [a, b] = [await host(prefix, "a"), await host(prefix, "b")];
    await a.backend.watch(["zoe"]);
    await b.backend.watch(["zoe"]);
    assert.equal(await client.scard(watchersKey(prefix, "zoe")), 2);
    a.backend.unwatch(["zoe"]);
    await eventually(async () => assert.equal(await client.scard(watchersKey(prefix, "zoe")), 1));
    await b.backend.close();
    assert.equal(await client.exists(watchersKey(prefix, "zoe")), 0);
    assert.ok((await client.pttl(watchersKey(prefix, "zoe"))) < 0);
  });

  test("a back-end killed with -9: its users go offline for their watchers within heartbeat + ttl", async () => {
    const prefix = randomPrefix();
    const timings = { heartbeatMs: 200, ttlMs: 1000 };
    const survivor = await host(prefix, "survivor", timings);
    assert.deepEqual(await survivor.backend.watch(["dan"]), []);
    const options = { url: redis.url, prefix, nodeId: "doomed", workerId: 1, masterName: "m" };
    const script = path.join(import.meta.dirname, "..", "helpers", "redis-backend-host.js");
    const child = spawn(
      process.execPath,
      [script, JSON.stringify({ ...options, ...timings }), "dan"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = once(child, "exit");
    try {
      await eventually(() => assert.deepEqual(survivor.heard, [["dan", true]]));
      child.kill("SIGKILL");
      await exited;
      const killedAt = Date.now();
      await waitFor("dan offline", () => survivor.heard.length === 2, 10_000);
      const after = Date.now() - killedAt;
      console.log(`# watched user offline ${after} ms after kill -9 of the host`);
      assert.deepEqual(survivor.heard[1], ["dan", false]);
      assert.ok(after <= timings.ttlMs + 2 * timings.heartbeatMs + 500, `${after} ms`);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("kill -9 of a chat-server host: a watcher on another host sees its user go offline within 30 s", async () => {
    const prefix = randomPrefix();
    const redisArgs = ["--redis", redis.url];
    const [doomedHost, otherHost] = await Promise.all([
      startChatHost({ redis: redisArgs, prefix, nodeId: "doomed" }),
      startChatHost({ redis: redisArgs, prefix, nodeId: "other" }),
    ]);
    try {
      const [watcherName, doomedName] = [uniqueName("w"), uniqueName("doomed")];
      const watcher = await connectAs(otherHost.url, watcherName);
      const presence: PresenceEvent[] = [];
      const typing: TypingEvent[] = [];
      watcher.on("presence", (event) => presence.push(event));
      watcher.on("typing", (event) => typing.push(event));
      assert.deepEqual(await emitAck(watcher, "watch", { usernames: [doomedName] }), {
        ok: true,
        online: [],
      });
      const doomed = await connectAs(doomedHost.url, doomedName, { reconnection: false });
      await eventually(() => assert.deepEqual(presence, [{ username: doomedName, online: true }]));
      assert.deepEqual(await emitAck(doomed, "typing", { username: watcherName }), { ok: true });
      await eventually(() => assert.deepEqual(typing, [{ from: doomedName }]));

      const killedAt = Date.now();
      await killHost(doomedHost);
      await eventually(
        () => assert.deepEqual(presence.at(-1), { username: doomedName, online: false }),
        30_000,
        50,
      );
      const after = Date.now() - killedAt;
      console.log(`# watcher told of the kill -9 after ${after} ms`);
      assert.ok(after < 30_000, `${after} ms`);
      assert.equal(presence.length, 2);
      // The watcher's host counted both events, and no change reached it for nobody.
      const metrics = await (await fetch(`${otherHost.url}/metrics`)).text();
      const value = (name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
      assert.equal(value("chat_presence_events_total"), 2);
      assert.equal(value("chat_presence_unwatched_total"), 0);
      assert.equal(value("chat_watched_users"), 1);
    } finally {
      await otherHost.stop();
      await doomedHost.stop().catch(() => {});
    }
  });
});
