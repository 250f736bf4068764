/**
 * The Redis back-end through Sentinel: one master, one replica, one Sentinel (quorum 1, down
 * after 1000 ms). Killing the master must let sends resume on the promoted replica without
 * recreating the back-ends.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { BackendUnavailableError } from "../../src/routing/backend.js";
import { randomPrefix, startHost, type TestHost } from "../helpers/redis-backend.js";
import { type RedisProcess, startRedis, startSentinel } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";

const processes: RedisProcess[] = [];
const hosts: TestHost[] = [];
const clients: Redis[] = [];
let master: RedisProcess;
let replica: RedisProcess;
let sentinel: RedisProcess;

function client(port: number): Redis {
  const c = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  c.on("error", () => {});
  clients.push(c);
  return c;
}

before(async () => {
  master = await startRedis();
  replica = await startRedis({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
  sentinel = await startSentinel({
    masterPort: master.port,
    downAfterMs: 1000,
    failoverTimeoutMs: 3000,
  });
  processes.push(master, replica, sentinel);
  const toReplica = client(replica.port);
  const toSentinel = client(sentinel.port);
  await waitFor("replica in sync", async () =>
    (await toReplica.info("replication")).includes("master_link_status:up"),
  );
  await waitFor(
    "the Sentinel to know the replica",
    async () => {
      const replicas = (await toSentinel.call("SENTINEL", "REPLICAS", "mymaster")) as string[][];
      return replicas.some((fields) => {
        const flags = fields[fields.indexOf("flags") + 1] ?? "";
        return flags === "slave";
      });
    },
    15_000,
    100,
  );
});

after(async () => {
  await Promise.all(hosts.map((h) => h.backend.close()));
  for (const c of clients) c.disconnect();
  await Promise.all(processes.map((p) => p.stop()));
});

test("sends resume on the promoted replica after the master is killed", async () => {
  const prefix = randomPrefix();
  const sentinels = [{ host: "127.0.0.1", port: sentinel.port }];
  const a = await startHost({ sentinels, masterName: "mymaster", prefix, nodeId: "a" });
  const b = await startHost({ sentinels, masterName: "mymaster", prefix, nodeId: "b" });
  hosts.push(a, b);
  await a.login("alice");
  await b.login("bob");
  const before = await a.backend.send("alice", "bob", "before the fail-over");
  assert.equal(before.status, "delivered");
  // A burst acknowledged right before the kill: the back-end's WAIT keeps every one of them.
  const burst = await Promise.all(
    Array.from({ length: 100 }, (_, i) => a.backend.send("alice", "bob", `burst ${i}`)),
  );

  await master.kill();
  const killedAt = Date.now();
  let rejected = 0;
  let result: Awaited<ReturnType<typeof a.backend.send>> | undefined;
  await waitFor(
    "a send to succeed after the fail-over",
    async () => {
      try {
        result = await a.backend.send("alice", "bob", "after the fail-over");
        return true;
      } catch (err) {
        // Not yet: the back-end says Redis is unavailable. Anything else is wrong.
        if (!(err instanceof BackendUnavailableError)) throw err;
        rejected++;
        return false;
      }
    },
    30_000,
    100,
  );
  const sendAfter = Date.now() - killedAt;
  await waitFor("both ready", () => a.backend.isReady() && b.backend.isReady(), 10_000);
  const readyAfter = Date.now() - killedAt;
  console.log(
    `# Sentinel fail-over: first send ok ${sendAfter} ms after the kill (${rejected} rejected meanwhile), both ready after ${readyAfter} ms`,
  );
  assert.ok(result);
  // bob's worker registered its presence again on the new master: live delivery resumes.
  let live: Awaited<ReturnType<typeof a.backend.send>> | undefined;
  await waitFor(
    "bob online again",
    async () => {
      live = await a.backend.send("alice", "bob", "live again");
      return live.status === "delivered";
    },
    10_000,
  );
  await waitFor("the live message", () => b.to("bob").some((m) => m.id === live?.message.id));
  // Nothing acknowledged before the fail-over is lost.
  const kept = await b.backend.replay("bob", "0-0");
  assert.equal(kept[0]?.id, before.message.id);
  const keptIds = new Set(kept.map((m) => m.id));
  assert.deepEqual(
    burst.filter((r) => !keptIds.has(r.message.id)),
    [],
    "acknowledged messages lost in the fail-over",
  );
  assert.ok(kept.some((m) => m.id === result?.message.id));
  assert.equal((await client(replica.port).info("replication")).includes("role:master"), true);
});
