/**
 * The Redis back-end when things break: a host killed with -9, Redis killed and restarted.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Redis } from "ioredis";
import { BackendUnavailableError } from "../../src/routing/backend.js";
import { killOnExit } from "../helpers/processes.js";
import { randomPrefix, startHost, type TestHost } from "../helpers/redis-backend.js";
import { type RedisProcess, startRedis } from "../helpers/redis-server.js";
import { waitFor, within } from "../helpers/wait.js";

let redis: RedisProcess;
const hosts: TestHost[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await Promise.all(hosts.map((h) => h.backend.close()));
  await redis.stop();
});

describe("Redis back-end failures", () => {
  test("a host killed with -9 shows its users offline within heartbeat + ttl", async () => {
    const prefix = randomPrefix();
    // Short timings so the test is quick: heartbeat 200 ms, dead after 1000 ms without one.
    const timings = { heartbeatMs: 200, ttlMs: 1000 };
    const survivor = await startHost({ url: redis.url, prefix, nodeId: "survivor", ...timings });
    hosts.push(survivor);
    await survivor.login("sam");
    await survivor.login("dora");
    const options = {
      url: redis.url,
      prefix,
      nodeId: "doomed",
      workerId: 1,
      masterName: "m",
      ...timings,
    };
    const script = path.join(import.meta.dirname, "..", "helpers", "redis-backend-host.js");
    const child = spawn(process.execPath, [script, JSON.stringify(options), "dora", "dan"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    killOnExit(child);
    const exited = once(child, "exit");
    try {
      let out = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      await waitFor("the doomed host", () => out.includes("ready"));
      assert.deepEqual(await survivor.backend.listUsers(10), ["dan", "dora", "sam"]);
      assert.equal((await survivor.backend.send("sam", "dan", "hello")).status, "delivered");

      child.kill("SIGKILL");
      await exited;
      const killedAt = Date.now();
      // The contract's bound is 30 s; these timings should take about ttlMs (reported).
      await waitFor(
        "dan offline",
        async () => (await survivor.backend.send("sam", "dan", "anyone?")).status === "stored",
        30_000,
      );
      const storedAfter = Date.now() - killedAt;
      await waitFor(
        "dan off the list",
        async () => !(await survivor.backend.listUsers(10)).includes("dan"),
        30_000,
      );
      const offlineAfter = Date.now() - killedAt;
      console.log(
        `# killed host: status stored after ${storedAfter} ms, off the list after ${offlineAfter} ms (presence TTL ${timings.ttlMs} ms)`,
      );
      // dora is still online through the survivor, and gets her messages there.
      assert.deepEqual(await survivor.backend.listUsers(10), ["dora", "sam"]);
      const sent = await survivor.backend.send("sam", "dora", "still here");
      assert.equal(sent.status, "delivered");
      assert.deepEqual(await survivor.waitFor("dora", 1), [sent.message]);
      // What dan missed waits for his next log in.
      const replay = await survivor.login("dan");
      assert.deepEqual(
        replay.map((m) => m.message),
        Array.from({ length: replay.length }, () => "anyone?"),
      );
      assert.ok(replay.length >= 1);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("Redis killed and restarted: unready, sends rejected, then back by itself", async () => {
    const prefix = randomPrefix();
    const a = await startHost({ url: redis.url, prefix, nodeId: "a" });
    const b = await startHost({ url: redis.url, prefix, nodeId: "b" });
    hosts.push(a, b);
    const changes: boolean[] = [];
    a.backend.onReadyChange((ready) => changes.push(ready));
    await a.login("alice");
    await b.login("bob");
    const before = await a.backend.send("alice", "bob", "before");
    assert.equal(before.status, "delivered");
    // "delivered" means Redis had a subscriber for it, not that Redis wrote it out yet: on a busy
    // machine a SIGKILL can land between the script's reply to a and the write to b's socket,
    // and this Redis keeps nothing. So b must have it before the kill.
    await b.waitFor("bob", 1);

    await redis.kill();
    await waitFor("a unready", () => !a.backend.isReady() && !b.backend.isReady(), 5000);
    // Requests fail while Redis is down (it is restarted only below), rather than wait for it.
    const t0 = Date.now();
    const failing = (async () => {
      await assert.rejects(a.backend.send("alice", "bob", "lost?"), BackendUnavailableError);
      await assert.rejects(a.backend.listUsers(10), BackendUnavailableError);
      await assert.rejects(a.login("carol"), BackendUnavailableError);
    })();
    await within(10_000, "requests to fail while Redis is down", failing);
    console.log(`# Redis down: three requests rejected in ${Date.now() - t0} ms`);

    const restartedAt = Date.now();
    await redis.restart();
    await waitFor("a and b ready", () => a.backend.isReady() && b.backend.isReady(), 10_000);
    const readyAfter = Date.now() - restartedAt;
    // The restarted Redis kept nothing: presence comes back from the workers themselves.
    await waitFor(
      "presence registered again",
      async () => (await a.backend.listUsers(10)).join() === "alice,bob,carol",
      5000,
    );
    const presentAfter = Date.now() - restartedAt;
    console.log(
      `# Redis restart: ready after ${readyAfter} ms, presence back after ${presentAfter} ms`,
    );
    assert.deepEqual(changes, [false, true]);
    const sent = await a.backend.send("alice", "bob", "after");
    assert.equal(sent.status, "delivered");
    await b.waitFor("bob", 2);
    assert.deepEqual(b.to("bob"), [before.message, sent.message]);
    const back = await b.backend.send("bob", "carol", "you were stored while Redis was down?");
    assert.equal(back.status, "delivered");
  });

  test("a frozen Redis (SIGSTOP): requests time out, unready, then ready again", async () => {
    const prefix = randomPrefix();
    const timings = { heartbeatMs: 200, ttlMs: 5000, commandTimeoutMs: 500 };
    const a = await startHost({ url: redis.url, prefix, nodeId: "a", ...timings });
    hosts.push(a);
    await a.login("alice");
    redis.proc().kill("SIGSTOP");
    try {
      // Rejected while Redis is still frozen (SIGCONT comes only below): the command timeout
      // (500 ms) ends the wait, not Redis waking up. The time is reported.
      const t0 = Date.now();
      await within(
        10_000,
        "the send to a frozen Redis to fail",
        assert.rejects(a.backend.send("alice", "alice", "frozen"), BackendUnavailableError),
      );
      const failedAfter = Date.now() - t0;
      await waitFor("unready", () => !a.backend.isReady(), 3000);
      console.log(
        `# frozen Redis: send rejected after ${failedAfter} ms, unready after ${Date.now() - t0} ms`,
      );
    } finally {
      redis.proc().kill("SIGCONT");
    }
    await waitFor("ready again", () => a.backend.isReady(), 5000);
    const sent = await a.backend.send("alice", "alice", "thawed");
    assert.equal(sent.status, "delivered");
    await waitFor("the thawed message", () => a.to("alice").some((m) => m.id === sent.message.id));
  });

  test("a client that ioredis gives up on is connected again", async () => {
    const a = await startHost({
      url: redis.url,
      prefix: randomPrefix(),
      nodeId: "a",
      maxRetryDelayMs: 100,
    });
    hosts.push(a);
    await a.login("alice");
    // What ioredis does when it gives up (as after a Sentinel error mid-connect): status "end".
    const clients = a.backend as unknown as { command: Redis; subscriber: Redis };
    clients.command.disconnect();
    clients.subscriber.disconnect();
    await waitFor("unready", () => !a.backend.isReady(), 2000);
    await waitFor("ready again", () => a.backend.isReady(), 5000);
    const sent = await a.backend.send("alice", "alice", "back");
    assert.equal(sent.status, "delivered");
    await waitFor("the message", () => a.to("alice").some((m) => m.id === sent.message.id));
  });
});
