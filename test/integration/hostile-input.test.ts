/**
 * What a hostile or careless client sends: every bad input gets its error code, and afterwards
 * other users still chat and no worker has died.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import WebSocket from "ws";
import type { ChatErrorEvent } from "../../src/protocol.js";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import {
  type ChatClient,
  closeAll,
  connect,
  connectAs,
  emitAck,
  logIn,
  send,
  uniqueName,
  waitForEvent,
  waitForMessages,
} from "../helpers/clients.js";

type Failure = { ok: false; error: { code: string; message: string } };

function codeOf(answer: unknown): string | undefined {
  const failure = answer as Failure;
  return failure?.ok === false ? failure.error.code : undefined;
}

describe("hostile input", () => {
  let server: ChatServer;
  let peer: string;

  before(async () => {
    server = await startChatServer({ workers: 2, args: ["--rate-limit", "5"] });
  });
  afterEach(() => closeAll());
  after(async () => {
    await server.stop();
  });

  const badLogIns: [string, unknown, string][] = [
    ["no payload", undefined, "INVALID_USERNAME"],
    ["null", null, "INVALID_USERNAME"],
    ["a number", 42, "INVALID_USERNAME"],
    ["a bare string", "alice", "INVALID_USERNAME"],
    ["an array", ["alice"], "INVALID_USERNAME"],
    ["an empty object", {}, "INVALID_USERNAME"],
    ["an empty username", { username: "" }, "INVALID_USERNAME"],
    ["a numeric username", { username: 12 }, "INVALID_USERNAME"],
    ["an object username", { username: { toString: "x" } }, "INVALID_USERNAME"],
    ["a username with a space", { username: "al ice" }, "INVALID_USERNAME"],
    ["a 33-character username", { username: "a".repeat(33) }, "INVALID_USERNAME"],
    ["a non-ASCII username", { username: "zoë" }, "INVALID_USERNAME"],
    [
      "a username only under __proto__",
      JSON.parse('{"__proto__":{"username":"x"}}'),
      "INVALID_USERNAME",
    ],
    ["a malformed since", { username: "sincer", since: "yesterday" }, "INVALID_PAYLOAD"],
  ];
  for (const [what, payload, code] of badLogIns) {
    it(`log in with ${what}: ${code}`, async () => {
      const socket = connect(server.url);
      assert.equal(codeOf(await emitAck(socket, "log in", payload)), code);
    });
  }

  it("send message before log in: NOT_LOGGED_IN", async () => {
    const socket = connect(server.url);
    assert.equal(codeOf(await send(socket, "bob", "hi")), "NOT_LOGGED_IN");
  });

  const badSends: [string, unknown, string][] = [
    ["no payload", undefined, "INVALID_PAYLOAD"],
    ["a string payload", "hi", "INVALID_PAYLOAD"],
    ["no message", { username: "bob" }, "INVALID_PAYLOAD"],
    ["an empty message", { username: "bob", message: "" }, "INVALID_PAYLOAD"],
    ["a numeric message", { username: "bob", message: 5 }, "INVALID_PAYLOAD"],
    ["an object message", { username: "bob", message: { text: "hi" } }, "INVALID_PAYLOAD"],
    ["a binary message", { username: "bob", message: Buffer.from("hi") }, "INVALID_PAYLOAD"],
    ["a numeric recipient", { username: 7, message: "hi" }, "INVALID_USERNAME"],
    ["an empty recipient", { username: "", message: "hi" }, "INVALID_USERNAME"],
    ["4097 ASCII bytes", { username: "bob", message: "x".repeat(4097) }, "MESSAGE_TOO_LARGE"],
    [
      "4098 bytes in 2049 characters",
      { username: "bob", message: "é".repeat(2049) },
      "MESSAGE_TOO_LARGE",
    ],
  ];
  for (const [what, payload, code] of badSends) {
    it(`send message with ${what}: ${code}`, async () => {
      const socket = await connectAs(server.url, uniqueName("sender"));
      assert.equal(codeOf(await emitAck(socket, "send message", payload)), code);
    });
  }

  it("a message of exactly the size limit is accepted", async () => {
    const socket = await connectAs(server.url, uniqueName("sender"));
    const answer = await send(socket, uniqueName("nobody"), "é".repeat(2048));
    assert.ok(answer.ok && answer.status === "stored");
  });

  it("an error without an acknowledgement callback comes as `chat error`", async () => {
    const socket = connect(server.url);
    const error = waitForEvent<ChatErrorEvent>(socket, "chat error");
    withoutAck(socket).emit("send message", { username: "bob", message: "hi" });
    assert.deepEqual(await error, {
      code: "NOT_LOGGED_IN",
      message: "Log in first",
      event: "send message",
    });
  });

  it("an unknown event: `chat error` UNKNOWN_EVENT", async () => {
    const socket = connect(server.url);
    const error = waitForEvent<ChatErrorEvent>(socket, "chat error");
    (socket as unknown as { emit(e: string, p: unknown): void }).emit("drop tables", {});
    const got = await error;
    assert.equal(got.code, "UNKNOWN_EVENT");
    assert.equal(got.event, "drop tables");
  });

  it("a flood past the rate limit: RATE_LIMITED, and the connection recovers", async () => {
    const socket = await connectAs(server.url, uniqueName("flooder"));
    const target = uniqueName("target");
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => send(socket, target, `f${i}`)),
    );
    const limited = answers.filter((a) => codeOf(a) === "RATE_LIMITED").length;
    const accepted = answers.filter((a) => a.ok).length;
    // --rate-limit 5: a burst of up to 10 (less the log in) passes, the rest is refused.
    assert.ok(accepted >= 5 && accepted <= 10, `accepted ${accepted}`);
    assert.equal(limited, 30 - accepted);
    // Tokens come back at 5 per second: wait for one, then it passes.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await send(socket, target, "later")).ok, true);
  });

  it("a flood of unknown events is answered only up to the rate limit", async () => {
    const socket = await connectAs(server.url, uniqueName("noisy"));
    let errors = 0;
    socket.on("chat error", () => errors++);
    for (let i = 0; i < 50; i++) {
      (socket as unknown as { emit(e: string): void }).emit(`junk${i}`);
    }
    // A known event after the flood is answered (RATE_LIMITED): by then every junk event was seen.
    const after = await send(socket, "anyone", "hi");
    assert.equal(codeOf(after), "RATE_LIMITED");
    assert.ok(errors >= 1 && errors <= 10, `${errors} unknown events answered`);
  });

  it("a malformed Socket.IO frame closes only that connection", async () => {
    const ws = new WebSocket(
      `${server.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`,
    );
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    ws.send("40");
    ws.send('42["log in",{"username":');
    ws.send("4\u0000\u0001not a packet");
    await new Promise((resolve) => ws.once("close", resolve));
  });

  it("a 2 MB frame is refused and closes only that connection", async () => {
    const socket = await connectAs(server.url, uniqueName("big"), {
      transport: "websocket",
      reconnection: false,
    });
    const closed = waitForEvent<string>(socket, "disconnect");
    withoutAck(socket).emit("send message", {
      username: "bob",
      message: "x".repeat(2 * 1024 * 1024),
    });
    assert.equal(await closed, "transport close");
  });

  it("a 2 MB long-polling POST is refused", async () => {
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    const open = JSON.parse((await res.text()).slice(1)) as { sid: string };
    const post = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${open.sid}`, {
      method: "POST",
      body: `42["send message",{"message":"${"x".repeat(2 * 1024 * 1024)}"}]`,
    });
    assert.equal(post.status, 413);
  });

  it("after all of it, other users still chat and no worker has died", async () => {
    peer = uniqueName("peer");
    const a: ChatClient = await connectAs(server.url, uniqueName("calm"));
    const b = await connectAs(server.url, peer);
    await send(a, peer, "still fine");
    await waitForMessages(b, (m) => m.some((x) => x.message === "still fine"));
    assert.equal(server.workerPids().length, 2, "no worker was replaced");
    assert.ok(!server.output.some((line) => line.includes("worker died")));
    assert.equal(server.proc.exitCode, null);
    const answer = await logIn(a, uniqueName("other"));
    assert.equal(codeOf(answer), "ALREADY_LOGGED_IN");
  });
});

/** The typed event map declares every acknowledgement; these tests emit without one on purpose. */
function withoutAck(socket: object): { emit(event: string, ...args: unknown[]): unknown } {
  return socket as { emit(event: string, ...args: unknown[]): unknown };
}
