import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryInbox } from "../../src/inbox/memory-inbox.js";
import { MessageIdGenerator } from "../../src/inbox/message-id.js";
import type { NewMessage } from "../../src/protocol.js";

const ids = new MessageIdGenerator();
function message(to: string, text: string, sentAt = Date.now()): NewMessage {
  return { id: ids.next(sentAt), from: "a", to, message: text, sentAt };
}

describe("MemoryInbox", () => {
  it("replays what no session got, once", () => {
    const inbox = new MemoryInbox({ maxPerUser: 10, maxAgeMs: 60_000 });
    inbox.append(message("bob", "live"), true);
    inbox.append(message("bob", "stored1"), false);
    inbox.append(message("bob", "stored2"), false);
    assert.deepEqual(
      inbox.replay("bob", undefined).map((m) => m.message),
      ["stored1", "stored2"],
    );
    assert.deepEqual(inbox.replay("bob", undefined), []);
  });

  it("replays everything after `since`, and everything for an id older than the inbox", () => {
    const inbox = new MemoryInbox({ maxPerUser: 10, maxAgeMs: 60_000 });
    const sent = ["a", "b", "c"].map((t) => message("bob", t));
    for (const m of sent) inbox.append(m, true);
    assert.deepEqual(
      inbox.replay("bob", sent[0]?.id).map((m) => m.message),
      ["b", "c"],
    );
    assert.deepEqual(
      inbox.replay("bob", "1-0").map((m) => m.message),
      ["a", "b", "c"],
    );
    assert.deepEqual(inbox.replay("bob", sent[2]?.id), []);
  });

  it("keeps at least the newest maxPerUser messages", () => {
    const inbox = new MemoryInbox({ maxPerUser: 100, maxAgeMs: 60_000 });
    for (let i = 0; i < 1000; i++) inbox.append(message("bob", `m${i}`), false);
    const kept = inbox.replay("bob", "1-0");
    assert.equal(kept.length, 100);
    assert.equal(kept.at(-1)?.message, "m999");
    assert.equal(kept.at(-100)?.message, "m900");
  });

  it("a log in with more stored than an inbox keeps gets the newest, oldest first", () => {
    const inbox = new MemoryInbox({ maxPerUser: 100, maxAgeMs: 60_000 });
    for (let i = 0; i < 120; i++) inbox.append(message("bob", `m${i}`), false);
    const got = inbox.replay("bob", undefined).map((m) => m.message);
    assert.equal(got.length, 100);
    assert.equal(got[0], "m20");
    assert.equal(got.at(-1), "m119");
  });

  it("repeats what arrived just before `since` (it may have reached the session later)", () => {
    const inbox = new MemoryInbox({ maxPerUser: 10, maxAgeMs: 60_000, reorderWindowMs: 1000 });
    const [a, b, c, d] = ["a", "b", "c", "d"].map((t) => message("bob", t));
    inbox.append(a as NewMessage, true, 1000);
    inbox.append(b as NewMessage, true, 5000);
    inbox.append(c as NewMessage, true, 5500);
    inbox.append(d as NewMessage, true, 6000);
    // c arrived half a second after b: b is repeated, a (4 s earlier) is not, c itself is not.
    assert.deepEqual(
      inbox.replay("bob", c?.id).map((m) => m.message),
      ["b", "d"],
    );
  });

  it("drops messages older than maxAgeMs", () => {
    const inbox = new MemoryInbox({ maxPerUser: 10, maxAgeMs: 1000 });
    const now = Date.now();
    inbox.append(message("bob", "old", now - 5000), false);
    inbox.append(message("bob", "new", now), false);
    assert.deepEqual(
      inbox.replay("bob", undefined, now).map((m) => m.message),
      ["new"],
    );
  });

  it("keeps users apart, including __proto__", () => {
    const inbox = new MemoryInbox({ maxPerUser: 10, maxAgeMs: 60_000 });
    inbox.append(message("__proto__", "p"), false);
    assert.deepEqual(inbox.replay("constructor", undefined), []);
    assert.equal(inbox.replay("__proto__", undefined)[0]?.message, "p");
  });
});
