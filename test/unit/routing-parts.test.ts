import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findHeadEnd, parseRequestHead } from "../../src/cluster/request-head.js";
import { createSessionId, workerIdOfSession } from "../../src/cluster/session-id.js";
import {
  compareMessageIds,
  MessageIdGenerator,
  parseMessageId,
} from "../../src/inbox/message-id.js";
import { PresenceTable } from "../../src/presence/presence-table.js";

describe("request head", () => {
  it("finds the path and the session id", () => {
    const head = Buffer.from(
      "GET /socket.io/?EIO=4&transport=polling&sid=3.abc_-x HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.equal(findHeadEnd(head), head.length);
    assert.deepEqual(parseRequestHead(head), {
      method: "GET",
      path: "/socket.io/",
      sid: "3.abc_-x",
    });
    assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n")), -1);
  });

  it("refuses what is not an HTTP/1 request line", () => {
    assert.equal(parseRequestHead(Buffer.from("\u0016\u0003\u0001 tls hello\r\n\r\n")), undefined);
    assert.equal(parseRequestHead(Buffer.from("GET /\r\n\r\n")), undefined);
  });
});

describe("session ids", () => {
  it("carry the worker id", () => {
    for (const worker of [1, 35, 36, 123_456]) {
      assert.equal(workerIdOfSession(createSessionId(worker)), worker);
    }
    assert.equal(workerIdOfSession("plainbase64idxxxxxxx"), undefined);
    assert.equal(workerIdOfSession(".abc"), undefined);
  });
});

describe("message ids", () => {
  it("stay apart between generators of different slots", () => {
    const ids = new Set<string>();
    const generators = [0, 1, 2].map((slot) => new MessageIdGenerator(slot, 3));
    for (let i = 0; i < 100; i++) for (const g of generators) ids.add(g.next(1000 + (i >> 4)));
    assert.equal(ids.size, 300);
  });

  it("increase even when the clock stands still or goes back", () => {
    const ids = new MessageIdGenerator();
    const a = parseMessageId(ids.next(1000));
    const b = parseMessageId(ids.next(1000));
    const c = parseMessageId(ids.next(900));
    const d = parseMessageId(ids.next(2000));
    assert.ok(a && b && c && d);
    assert.ok(
      compareMessageIds(a, b) < 0 && compareMessageIds(b, c) < 0 && compareMessageIds(c, d) < 0,
    );
    assert.equal(parseMessageId("12-x"), undefined);
    assert.equal(parseMessageId(12), undefined);
  });
});

describe("PresenceTable", () => {
  it("tracks users per worker and drops a dead worker's users", () => {
    const table = new PresenceTable();
    table.add("bob", 1);
    table.add("bob", 2);
    table.add("amy", 2);
    assert.deepEqual(table.list(10), ["amy", "bob"]);
    assert.deepEqual(table.removeWorker(2), ["amy"], "bob is still online on worker 1");
    assert.deepEqual([...(table.workersOf("bob") ?? [])], [1]);
    assert.deepEqual(table.list(10), ["bob"]);
    table.remove("bob", 1);
    assert.deepEqual(table.list(10), []);
    assert.equal(table.workersOf("bob"), undefined);
  });
});
