/**
 * With --auth-secret (issue 15, demonstrations 5 and 6): every event but `log in` needs a
 * logged-in connection, and a session lasts as long as its token unless the client refreshes it
 * with another `log in` for the same name.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { ChatErrorEvent } from "../../src/protocol.js";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import {
  closeAll,
  connect,
  emitAck,
  listUsers,
  logIn,
  send,
  uniqueName,
  waitForEvent,
} from "../helpers/clients.js";
import { limitHits } from "../helpers/host-usage.js";
import { signTestToken } from "../helpers/tokens.js";

const SECRET = "test-secret-of-at-least-16-chars";

function codeOf(answer: unknown): string {
  const a = answer as { ok: boolean; error?: { code: string } };
  return a.ok ? "ok" : (a.error?.code ?? "?");
}

describe("auth on every event, sessions end with their token", () => {
  let server: ChatServer;
  before(async () => {
    server = await startChatServer({ workers: 1, args: ["--auth-secret", SECRET] });
  });
  afterEach(() => closeAll());
  after(async () => {
    await server.stop();
  });

  it("every event but log in needs a logged-in connection: NOT_LOGGED_IN", async () => {
    const socket = connect(server.url);
    assert.equal(codeOf(await listUsers(socket)), "NOT_LOGGED_IN");
    assert.equal(codeOf(await emitAck(socket, "log out")), "NOT_LOGGED_IN");
    assert.equal(codeOf(await send(socket, "bob", "hi")), "NOT_LOGGED_IN");
    const alice = uniqueName("alice");
    assert.ok((await logIn(socket, alice, { token: await signTestToken(SECRET, alice) })).ok);
    assert.equal(codeOf(await listUsers(socket)), "ok");
  });

  it("a session ends at its token's expiry: chat error UNAUTHORIZED, then disconnect", async () => {
    const name = uniqueName("short");
    const socket = connect(server.url, { reconnection: false });
    const token = await signTestToken(SECRET, name, { expiresInS: 2 });
    assert.ok((await logIn(socket, name, { token })).ok);
    const error = waitForEvent<ChatErrorEvent>(socket, "chat error", 15_000);
    const disconnected = waitForEvent<string>(socket, "disconnect", 15_000);
    assert.equal((await error).code, "UNAUTHORIZED");
    await disconnected;
    assert.ok((await limitHits(server.url, "token_expired")) >= 1);
  });

  it("a log in with a fresh token for the same name refreshes the session", async () => {
    const refreshed = uniqueName("fresh");
    const a = connect(server.url, { reconnection: false });
    const first = await signTestToken(SECRET, refreshed, { expiresInS: 2 });
    assert.ok((await logIn(a, refreshed, { token: first })).ok);
    const later = await signTestToken(SECRET, refreshed, { expiresInS: 3600 });
    assert.ok((await logIn(a, refreshed, { token: later })).ok);
    let ended = false;
    a.on("disconnect", () => {
      ended = true;
    });
    // A session whose token runs out after `a`'s first one did: once it has ended, `a` would
    // have ended too without its refresh.
    const witness = uniqueName("witness");
    const b = connect(server.url, { reconnection: false });
    const witnessToken = await signTestToken(SECRET, witness, { expiresInS: 3 });
    assert.ok((await logIn(b, witness, { token: witnessToken })).ok);
    await waitForEvent(b, "disconnect", 15_000);
    assert.equal(ended, false);
    assert.ok((await send(a, witness, "still logged in")).ok);
  });
});
