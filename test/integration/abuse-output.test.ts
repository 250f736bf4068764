/**
 * Per-connection bounds against a client that stops reading (issue 15, demonstration 1): a
 * user's inbox is filled, then a connection that reads nothing asks for it again and again. The
 * server cuts the connection once a few MB wait for it, replays once per log in, and the host's
 * memory (RSS from /proc) stays near where it was while other users keep chatting.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { Socket as NetSocket } from "node:net";
import { after, afterEach, before, describe, it } from "node:test";
import WebSocket from "ws";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import {
  closeAll,
  connect,
  connectAs,
  logIn,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { hostRssMb, limitHits } from "../helpers/host-usage.js";
import { eventually } from "../helpers/wait.js";

const MESSAGE_BYTES = 64 * 1024;
/** 16 MB of inbox: more than the kernel's socket buffers on loopback can absorb. */
const INBOX_MESSAGES = 256;
const UNSENT_LIMIT = 1024 * 1024;

/** Fills `user`'s inbox with `INBOX_MESSAGES` messages of 64 KB from 8 senders. */
async function fillInbox(url: string, user: string): Promise<void> {
  const text = "x".repeat(MESSAGE_BYTES);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      const sender = await connectAs(url, uniqueName("filler"), { transport: "websocket" });
      for (let i = 0; i < INBOX_MESSAGES / 8; i++) {
        const answer = await send(sender, user, text);
        assert.ok(answer.ok, JSON.stringify(answer));
      }
      sender.disconnect();
    }),
  );
}

/** Two users exchanging acknowledged messages until stopped; every answer must be ok. */
function keepChatting(url: string) {
  let stopped = false;
  const tally = { acks: 0, failures: 0 };
  let started: () => void = () => {};
  const firstAck = new Promise<void>((resolve) => {
    started = resolve;
  });
  const done = (async () => {
    const bob = uniqueName("calm");
    const a = await connectAs(url, uniqueName("calm"));
    const b = await connectAs(url, bob);
    for (let i = 1; i <= 5000 && !stopped; i++) {
      const answer = await send(a, bob, `still here ${i}`);
      if (answer.ok) tally.acks++;
      else tally.failures++;
      await waitForMessages(b, (m) => m.length >= tally.acks);
      started();
    }
  })();
  return {
    tally,
    /** Resolves once the first message went through. */
    firstAck,
    /** Resolves once `n` more messages have gone through. */
    async more(n: number) {
      const target = tally.acks + n;
      await eventually(() => assert.ok(tally.acks >= target, `${tally.acks} acks`), 20_000);
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** A Socket.IO connection made by hand, so the test can stop reading from it. */
async function rawWebSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  await once(ws, "open");
  const connected = new Promise<void>((resolve) =>
    ws.on("message", (data) => {
      if (String(data).startsWith("40")) resolve();
    }),
  );
  ws.send("40");
  await connected;
  return ws;
}

describe("a connection that does not read", () => {
  let server: ChatServer;
  let victim: string;

  before(async () => {
    server = await startChatServer({
      workers: 1,
      args: [
        ...["--rate-limit", "1000", "--max-message-bytes", String(MESSAGE_BYTES)],
        ...["--max-unsent-bytes", String(UNSENT_LIMIT), "--max-sessions-per-user", "3"],
      ],
    });
    victim = uniqueName("victim");
    await fillInbox(server.url, victim);
  });
  afterEach(() => closeAll());
  after(async () => {
    await server.stop();
  });

  it("over WebSocket is cut once a few MB wait, and the host's memory stays bounded", async () => {
    const chatting = keepChatting(server.url);
    await chatting.firstAck;
    const rssBefore = hostRssMb(server);
    let rssPeak = rssBefore;
    const ws = await rawWebSocket(server.url);
    (ws as unknown as { _socket: NetSocket })._socket.pause();
    // Each log in asked for the whole 16 MB inbox again (before: 20 replays, hundreds of MB).
    for (let i = 0; i < 20; i++) {
      ws.send(`42["log in",{"username":"${victim}","since":"0-0"}]`);
    }
    await eventually(async () => {
      rssPeak = Math.max(rssPeak, hostRssMb(server));
      assert.ok((await limitHits(server.url, "unsent_output")) >= 1, "not cut yet");
    }, 30_000);
    rssPeak = Math.max(rssPeak, hostRssMb(server));
    await chatting.more(5);
    await chatting.stop();
    ws.terminate();
    assert.ok(
      rssPeak - rssBefore < 150,
      `host RSS grew ${Math.round(rssPeak - rssBefore)} MB (${Math.round(rssBefore)} -> ${Math.round(rssPeak)})`,
    );
    assert.equal(chatting.tally.failures, 0);
    assert.ok(chatting.tally.acks > 0, "the other users chatted meanwhile");
  });

  it("over long-polling is cut once a few MB wait, and its session is gone", async () => {
    const cutBefore = await limitHits(server.url, "unsent_output");
    const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
    const open = await fetch(base);
    const { sid } = JSON.parse((await open.text()).slice(1)) as { sid: string };
    const post = (body: string) =>
      fetch(`${base}&sid=${sid}`, { method: "POST", body }).then((res) => res.text());
    await post("40");
    await fetch(`${base}&sid=${sid}`).then((res) => res.text());
    // Log in, then never poll: the replay piles up in the session's write buffer.
    await post(`42["log in",{"username":"${victim}","since":"0-0"}]`);
    await eventually(async () => {
      assert.ok((await limitHits(server.url, "unsent_output")) > cutBefore, "not cut yet");
    }, 30_000);
    const poll = await fetch(`${base}&sid=${sid}`);
    await poll.arrayBuffer();
    assert.equal(poll.status, 400, "the session was closed");
  });

  it("a second log in as the same user on one connection replays nothing again", async () => {
    const carol = uniqueName("carol");
    const sender = await connectAs(server.url, uniqueName("s"));
    for (const text of ["one", "two", "three"]) assert.ok((await send(sender, carol, text)).ok);
    const c = connect(server.url);
    assert.ok((await logIn(c, carol, { since: "0-0" })).ok);
    await waitForMessages(c, (m) => m.length === 3);
    // The same name again is a token refresh: ok, and no second copy of the inbox.
    assert.deepEqual(await logIn(c, carol, { since: "0-0" }), { ok: true, username: carol });
    assert.ok((await send(sender, carol, "four")).ok);
    const received = await waitForMessages(c, (m) => m.some((x) => x.message === "four"));
    assert.deepEqual(
      received.map((m) => m.message),
      ["one", "two", "three", "four"],
    );
  });

  it("a user's sessions on a worker are limited (--max-sessions-per-user)", async () => {
    const dave = uniqueName("dave");
    const hitsBefore = await limitHits(server.url, "sessions_per_user");
    const sessions = await Promise.all([1, 2, 3].map(() => connectAs(server.url, dave)));
    const fourth = connect(server.url);
    const refused = await logIn(fourth, dave);
    assert.equal(refused.ok ? "ok" : refused.error.code, "RATE_LIMITED");
    assert.equal(await limitHits(server.url, "sessions_per_user"), hitsBefore + 1);

    // One leaving frees its place.
    sessions[0]?.disconnect();
    await eventually(async () => assert.ok((await logIn(fourth, dave)).ok));
  });
});
