/**
 * GET /metrics is Prometheus text summed over all workers, and its counters follow the traffic.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import {
  closeAll,
  connect,
  connectAs,
  connectAsOnOtherWorker,
  emitAck,
  send,
  uniqueName,
  waitForMessages,
  workerOf,
} from "../helpers/clients.js";
import { parseMetrics } from "../helpers/host-usage.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { type RedisProcess, startRedis } from "../helpers/redis-server.js";
import { eventually } from "../helpers/wait.js";

async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return parseMetrics(await res.text());
}

/** The delivery latency histogram is one: cumulative buckets ending at its count, a sum. */
function assertHistogram(m: Map<string, number>, name: string, count: number): void {
  const buckets = [...m]
    .filter(([key]) => key.startsWith(`${name}_bucket{`))
    .map(([key, value]) => ({ le: /le="([^"]+)"/.exec(key)?.[1] ?? "", value }));
  assert.ok(buckets.length >= 2, `${name}: buckets ${JSON.stringify(buckets)}`);
  const bounds = buckets.map((b) => (b.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(b.le)));
  assert.deepEqual(
    bounds,
    [...bounds].sort((x, y) => x - y),
    "buckets in order",
  );
  const values = buckets.map((b) => b.value);
  assert.deepEqual(
    values,
    [...values].sort((x, y) => x - y),
    "buckets are cumulative",
  );
  assert.equal(values.at(-1), count, "+Inf bucket");
  assert.equal(m.get(`${name}_count`), count, "count");
  const sum = m.get(`${name}_sum`) ?? -1;
  assert.ok(sum >= 0 && sum < 60 * count, `sum ${sum} s`);
}

for (const mode of ["embedded", "Redis"] as const)
  describe(`metrics (${mode} mode)`, () => {
    let server: ChatServer;
    let redis: RedisProcess | undefined;
    before(async () => {
      redis = mode === "Redis" ? await startRedis() : undefined;
      const backend = redis ? ["--redis", redis.url, "--redis-prefix", randomPrefix()] : [];
      server = await startChatServer({ workers: 2, args: ["--rate-limit", "2", ...backend] });
    });
    after(async () => {
      closeAll();
      await server.stop();
      await redis?.stop();
    });

    it("counts sockets, messages, errors and rate limiting across both workers", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(server.url, alice, { transport: "websocket" });
      // Until bob's session is on the other worker (the balancer's choice, or the kernel's).
      const b = await connectAsOnOtherWorker(server.url, bob, a, { transport: "websocket" });
      assert.notEqual(workerOf(a), workerOf(b), "one on each worker");
      const anonymous = connect(server.url, { transport: "websocket" });
      await emitAck(anonymous, "list users");

      await send(a, bob, "one");
      await send(b, alice, "two");
      await send(a, uniqueName("offline"), "three");
      await waitForMessages(b, (m) => m.length === 1);
      await waitForMessages(a, (m) => m.length === 1);
      assert.equal(
        (await emitAck<{ ok: boolean }>(a, "send message", { username: bob, message: "" })).ok,
        false,
      );
      // --rate-limit 2 allows a burst of 4: carol's log in and a burst of 5 at once leave exactly
      // 2 over the limit (the burst arrives in far less than the half second a token takes).
      const c = await connectAs(server.url, uniqueName("carol"), { transport: "websocket" });
      const burst = await Promise.all(
        Array.from({ length: 5 }, () =>
          emitAck<{ ok: boolean; error?: { code: string } }>(c, "send message", {
            username: bob,
            message: "",
          }),
        ),
      );
      const codes = burst.map((answer) => answer.error?.code).sort();
      assert.deepEqual(codes, [
        "INVALID_PAYLOAD",
        "INVALID_PAYLOAD",
        "INVALID_PAYLOAD",
        "RATE_LIMITED",
        "RATE_LIMITED",
      ]);

      await eventually(async () => {
        const m = await scrape(server.url);
        assert.equal(m.get("chat_connected_sockets"), 4);
        assert.equal(m.get("chat_logged_in_users"), 3);
        // Distinct users on this host: embedded mode only (in Redis mode, presence is Redis's).
        if (mode === "embedded") assert.equal(m.get("chat_online_users"), 3);
        assert.equal(m.get("chat_workers_ready"), 2);
        assert.equal(m.get("chat_storage_up"), 2);
        assert.equal(m.get("chat_messages_received_total"), 3);
        assert.equal(m.get("chat_messages_delivered_total"), 2);
        assert.equal(m.get("chat_messages_stored_total"), 1);
        assert.equal(m.get('chat_errors_total{code="INVALID_PAYLOAD"}'), 4);
        assert.equal(m.get('chat_errors_total{code="RATE_LIMITED"}'), 2);
        assert.equal(m.get("chat_rate_limited_total"), 2);
        assertHistogram(m, "chat_delivery_latency_seconds", 2);
        assert.equal(m.get("chat_worker_restarts_total"), 0);
        assert.ok((m.get("process_resident_memory_bytes") ?? 0) > 0);
      });
    });
  });
