import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReplayGate } from "../../src/chat/replay-gate.js";
import { PER_MESSAGE_OVERHEAD_BYTES, SendQuota } from "../../src/chat/send-quota.js";
import { UnsentOutputGuard } from "../../src/chat/unsent-output.js";

const DAY_MS = 24 * 60 * 60 * 1000;

describe("SendQuota", () => {
  it("charges text plus overhead and refills evenly over a day", () => {
    const perMessage = 1000 + PER_MESSAGE_OVERHEAD_BYTES;
    const quota = new SendQuota(perMessage * 3);
    try {
      const t0 = 1_000_000;
      for (let i = 0; i < 3; i++) assert.ok(quota.take("amy", 1000, t0));
      assert.equal(quota.take("amy", 1000, t0), false);
      assert.ok(quota.take("ben", 1000, t0), "others have their own budget");
      // A third of a day later, one message's worth is back.
      assert.ok(quota.take("amy", 1000, t0 + DAY_MS / 3 + 1));
      assert.equal(quota.take("amy", 1000, t0 + DAY_MS / 3 + 2), false);
    } finally {
      quota.close();
    }
  });

  it("0 means no limit", () => {
    const quota = new SendQuota(0);
    for (let i = 0; i < 1000; i++) assert.ok(quota.take("amy", 1_000_000));
    assert.equal(quota.size, 0);
  });
});

describe("ReplayGate", () => {
  it("runs at most maxInFlight at once, the rest in order, and marks each session busy", async () => {
    const gate = new ReplayGate<object>(2);
    const releases: (() => void)[] = [];
    const started: number[] = [];
    const sessions = [{}, {}, {}, {}];
    const runs = sessions.map((session, i) =>
      gate.run(session, () => {
        started.push(i);
        return new Promise<number>((resolve) => releases.push(() => resolve(i)));
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1]);
    assert.equal(gate.queued, 2);
    assert.ok(sessions.every((s) => gate.isBusy(s)));
    releases[0]?.();
    assert.equal(await runs[0], 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1, 2]);
    assert.equal(gate.isBusy(sessions[0] as object), false);
    for (const release of releases.slice(1)) release();
    await new Promise((resolve) => setImmediate(resolve));
    releases.at(-1)?.();
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
  });
});

describe("UnsentOutputGuard", () => {
  function fakeSocket(transport: object, writeBuffer: { data: string }[] = []) {
    let closed = false;
    const conn = {
      readyState: "open",
      writeBuffer,
      transport,
      close() {
        closed = true;
      },
    };
    return { socket: { conn }, closed: () => closed };
  }

  it("counts the WebSocket's buffer and Engine.IO's write buffer, and cuts past the limit", async () => {
    const cuts: number[] = [];
    const guard = new UnsentOutputGuard(10_000, (bytes) => cuts.push(bytes));
    let terminated = false;
    const ws = {
      bufferedAmount: 6000,
      terminate() {
        terminated = true;
      },
    };
    const { socket } = fakeSocket({ name: "websocket", socket: ws }, [{ data: "x".repeat(1000) }]);
    assert.equal(guard.unsentBytes(socket), 6000 + 1000 + 64);
    assert.equal(guard.check(socket), false);
    socket.conn.writeBuffer.push({ data: "y".repeat(3000) });
    assert.equal(guard.check(socket), true);
    assert.equal(cuts.length, 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(terminated, "the WebSocket is dropped without a close handshake");
  });

  it("closes a polling session, discarding its buffer", async () => {
    const guard = new UnsentOutputGuard(1000, () => {});
    const { socket, closed } = fakeSocket({ name: "polling" });
    for (let i = 0; i < 20; i++) socket.conn.writeBuffer.push({ data: "z".repeat(100) });
    assert.equal(guard.check(socket), true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(closed());
    // A new buffer after a flush is counted from zero.
    socket.conn.writeBuffer = [{ data: "a" }];
    assert.equal(guard.unsentBytes(socket), 1 + 64);
  });
});
