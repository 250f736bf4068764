/**
 * What one account may make the host store (issue 15, demonstration 2), in both modes: a
 * sender's daily allowance of stored bytes runs out with RATE_LIMITED while other senders go on.
 * In multi-host mode a Redis that is full (`maxmemory` with `noeviction`, the operator's cap)
 * answers UNAVAILABLE, and the server keeps serving.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import { closeAll, connectAs, send, uniqueName, waitForMessages } from "../helpers/clients.js";
import { limitHits } from "../helpers/host-usage.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { type RedisProcess, rawCommand, startRedis } from "../helpers/redis-server.js";

/** Four 4 KB messages fit (4096 + 256 bytes of overhead each), the fifth does not. */
const ALLOWANCE = 18_000;
const TEXT = "q".repeat(4096);

function codeOf(answer: { ok: boolean; error?: { code: string } }): string {
  return answer.ok ? "ok" : (answer.error?.code ?? "?");
}

function allowanceSuite(
  mode: string,
  start: () => Promise<{ server: ChatServer; stop(): Promise<void> }>,
) {
  describe(`stored bytes per sender and day (${mode})`, () => {
    let running: { server: ChatServer; stop(): Promise<void> };
    before(async () => {
      running = await start();
    });
    afterEach(() => closeAll());
    after(async () => {
      await running.stop();
    });

    it("refuses a sender past its allowance with RATE_LIMITED; others still send", async () => {
      const { url } = running.server;
      const spammer = await connectAs(url, uniqueName("spam"));
      const answers: string[] = [];
      // To names nobody uses: before, each would have been kept for 7 days.
      for (let i = 0; i < 6; i++)
        answers.push(codeOf(await send(spammer, uniqueName("nobody"), TEXT)));
      assert.deepEqual(answers, ["ok", "ok", "ok", "ok", "RATE_LIMITED", "RATE_LIMITED"]);
      assert.equal(await limitHits(url, "stored_bytes_per_user"), 2);
      const bob = uniqueName("bob");
      const b = await connectAs(url, bob);
      const other = await connectAs(url, uniqueName("other"));
      assert.equal(codeOf(await send(other, bob, "unaffected")), "ok");
      await waitForMessages(b, (m) => m.some((x) => x.message === "unaffected"));
    });
  });
}

const allowanceArgs = ["--max-stored-bytes-per-user", String(ALLOWANCE), "--workers", "1"];

allowanceSuite("embedded mode", async () => {
  const server = await startChatServer({ workers: 1, args: allowanceArgs });
  return { server, stop: async () => void (await server.stop()) };
});

allowanceSuite("multi-host mode", async () => {
  const redis = await startRedis();
  const server = await startChatServer({
    workers: 1,
    args: [...allowanceArgs, "--redis", redis.url, "--redis-prefix", randomPrefix()],
  });
  return {
    server,
    stop: async () => {
      await server.stop();
      await redis.stop();
    },
  };
});

describe("a full Redis (maxmemory, noeviction)", () => {
  let redis: RedisProcess;
  let server: ChatServer;
  before(async () => {
    redis = await startRedis({ args: ["--maxmemory-policy", "noeviction"] });
    server = await startChatServer({
      workers: 1,
      args: ["--redis", redis.url, "--redis-prefix", randomPrefix(), "--rate-limit", "1000"],
    });
  });
  afterEach(() => closeAll());
  after(async () => {
    await server.stop();
    await redis.stop();
  });

  it("answers UNAVAILABLE, never crashes, and works again once there is room", async () => {
    const bob = uniqueName("bob");
    const a = await connectAs(server.url, uniqueName("filler"));
    const b = await connectAs(server.url, bob);
    const info = await rawCommand(redis.port, "INFO memory");
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
    assert.ok(used > 0, info);
    await rawCommand(redis.port, `CONFIG SET maxmemory ${used + 100_000}`);
    const codes = new Set<string>();
    for (let i = 0; i < 200 && !codes.has("UNAVAILABLE"); i++) {
      codes.add(codeOf(await send(a, uniqueName("nobody"), TEXT)));
    }
    assert.ok(codes.has("UNAVAILABLE"), `answers: ${[...codes].join(", ")}`);
    assert.ok((await limitHits(server.url, "storage_full")) >= 1, "counted as storage_full");
    assert.deepEqual(
      [...codes].filter((c) => c !== "ok" && c !== "UNAVAILABLE"),
      [],
    );
    await rawCommand(redis.port, "CONFIG SET maxmemory 0");
    assert.equal(codeOf(await send(a, bob, "room again")), "ok");
    await waitForMessages(b, (m) => m.some((x) => x.message === "room again"));
    assert.equal(server.workerPids().length, 1, "no worker was replaced");
    assert.ok(!server.output.some((line) => line.includes("worker died")));
  });
});
