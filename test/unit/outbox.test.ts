import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Outbox, type SendOutcome } from "../../src/client/outbox.js";
import type { SendMessageAnswer, SendMessagePayload } from "../../src/protocol.js";

interface Call {
  payload: SendMessagePayload;
  answer: (answer: SendMessageAnswer) => void;
  lose: () => void;
}

/** An outbox whose `send` calls wait for the test to answer them. */
function harness(options: { maxUnavailableRetries?: number } = {}) {
  const calls: Call[] = [];
  const outcomes: SendOutcome[] = [];
  let relogins = 0;
  const outbox = new Outbox({
    send: (payload) =>
      new Promise((resolve, reject) => {
        calls.push({ payload, answer: resolve, lose: () => reject(new Error("lost")) });
      }),
    onOutcome: (outcome) => outcomes.push(outcome),
    onNotLoggedIn: () => relogins++,
    retryDelayMs: () => 1,
    ...options,
  });
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
  return { outbox, calls, outcomes, relogins: () => relogins, tick };
}

const ok = (id: string): SendMessageAnswer => ({ ok: true, id, status: "delivered" });
const fail = (code: string): SendMessageAnswer =>
  ({ ok: false, error: { code, message: code } }) as SendMessageAnswer;

describe("terminal client outbox", () => {
  it("sends nothing before log in, then one message at a time in order", async () => {
    const h = harness();
    h.outbox.enqueue({ recipient: "bob", text: "1" });
    h.outbox.enqueue({ recipient: "bob", text: "2" });
    await h.tick();
    assert.equal(h.calls.length, 0);
    h.outbox.resume();
    assert.equal(h.calls.length, 1);
    assert.deepEqual(h.calls[0]?.payload, { username: "bob", message: "1" });
    h.calls[0]?.answer(ok("10-0"));
    await h.tick();
    assert.equal(h.calls.length, 2);
    assert.equal(h.calls[1]?.payload.message, "2");
    h.calls[1]?.answer({ ok: true, id: "11-0", status: "stored" });
    await h.tick();
    assert.equal(h.outbox.size, 0);
    assert.deepEqual(
      h.outcomes.map((o) => (o.kind === "sent" ? `${o.message.text}:${o.status}` : o.kind)),
      ["1:delivered", "2:stored"],
    );
  });

  it("sends the message in flight again after a lost connection", async () => {
    const h = harness();
    h.outbox.resume();
    h.outbox.enqueue({ recipient: "bob", text: "a" });
    h.outbox.enqueue({ recipient: "bob", text: "b" });
    h.outbox.pause();
    h.calls[0]?.lose();
    await h.tick();
    assert.equal(h.calls.length, 1, "nothing sent while paused");
    h.outbox.resume();
    assert.equal(h.calls.length, 2);
    assert.equal(h.calls[1]?.payload.message, "a");
    h.calls[1]?.answer(ok("1-0"));
    await h.tick();
    h.calls[2]?.answer(ok("2-0"));
    await h.tick();
    assert.deepEqual(
      h.outcomes.map((o) => o.message.text),
      ["a", "b"],
    );
  });

  it("ignores a late answer from before the connection was lost", async () => {
    const h = harness();
    h.outbox.resume();
    h.outbox.enqueue({ recipient: "bob", text: "a" });
    h.outbox.pause();
    h.outbox.resume();
    h.calls[0]?.answer(ok("1-0")); // stale
    await h.tick();
    assert.equal(h.outcomes.length, 0);
    h.calls[1]?.answer(ok("1-1"));
    await h.tick();
    assert.equal(h.outcomes.length, 1);
  });

  it("retries RATE_LIMITED and lost answers, keeping order", async () => {
    const h = harness();
    h.outbox.resume();
    h.outbox.enqueue({ recipient: "bob", text: "a" });
    h.outbox.enqueue({ recipient: "bob", text: "b" });
    h.calls[0]?.answer(fail("RATE_LIMITED"));
    await h.tick();
    assert.equal(h.calls[1]?.payload.message, "a");
    h.calls[1]?.lose();
    await h.tick();
    assert.equal(h.calls[2]?.payload.message, "a");
    h.calls[2]?.answer(ok("1-0"));
    await h.tick();
    assert.equal(h.calls[3]?.payload.message, "b");
  });

  it("gives up on UNAVAILABLE after the allowed retries, and on other errors at once", async () => {
    const h = harness({ maxUnavailableRetries: 2 });
    h.outbox.resume();
    h.outbox.enqueue({ recipient: "bob", text: "big" });
    h.outbox.enqueue({ recipient: "bob", text: "later" });
    h.calls[0]?.answer(fail("MESSAGE_TOO_LARGE"));
    await h.tick();
    for (let i = 1; i <= 3; i++) {
      h.calls[i]?.answer(fail("UNAVAILABLE"));
      await h.tick();
    }
    assert.equal(h.calls.length, 4);
    assert.deepEqual(
      h.outcomes.map((o) => (o.kind === "failed" ? o.error.code : o.kind)),
      ["MESSAGE_TOO_LARGE", "UNAVAILABLE"],
    );
    assert.equal(h.outbox.size, 0);
  });

  it("asks to log in again on NOT_LOGGED_IN and resends after resume", async () => {
    const h = harness();
    h.outbox.resume();
    h.outbox.enqueue({ recipient: "bob", text: "a" });
    h.calls[0]?.answer(fail("NOT_LOGGED_IN"));
    await h.tick();
    assert.equal(h.relogins(), 1);
    assert.equal(h.calls.length, 1);
    h.outbox.resume();
    assert.equal(h.calls[1]?.payload.message, "a");
  });
});
