import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findHeadEnd, parseRequestHead } from "../../src/cluster/request-head.js";
import { createSessionId, workerIdOfSession } from "../../src/cluster/session-id.js";
import { compareMessageIds, parseMessageId } from "../../src/inbox/message-id.js";

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
  it("parse only the <ms>-<seq> shape", () => {
    const a = parseMessageId("1000-0");
    const b = parseMessageId("1000-1");
    assert.ok(a && b && compareMessageIds(a, b) < 0);
    assert.equal(parseMessageId("12-x"), undefined);
    assert.equal(parseMessageId(12), undefined);
  });
});
