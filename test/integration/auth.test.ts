/**
 * --auth-secret: `log in` needs a valid HS256 JWT for the username, in the payload or in the
 * handshake's `auth.token`; every other token gets UNAUTHORIZED and logs nobody in.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import {
  closeAll,
  connect,
  listUsers,
  logIn,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { signTestToken, unsignedToken } from "../helpers/tokens.js";

const SECRET = "test-secret-of-at-least-16-chars";

describe("JWT auth", () => {
  let server: ChatServer;
  before(async () => {
    server = await startChatServer({ workers: 2, args: ["--auth-secret", SECRET] });
  });
  afterEach(() => closeAll());
  after(async () => {
    await server.stop();
  });

  it("logs in with a valid token in `log in` or in the handshake, and chats", async () => {
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    const a = connect(server.url);
    assert.deepEqual(await logIn(a, alice, { token: await signTestToken(SECRET, alice) }), {
      ok: true,
      username: alice,
    });
    const b = connect(server.url, { auth: { token: await signTestToken(SECRET, bob) } });
    assert.deepEqual(await logIn(b, bob), { ok: true, username: bob });
    await send(a, bob, "signed hello");
    await waitForMessages(b, (m) => m.some((x) => x.message === "signed hello"));
    assert.ok(!server.output.some((line) => line.includes("anyone can log in")));
  });

  const refused: [string, (name: string) => Promise<string | undefined>][] = [
    ["no token", async () => undefined],
    ["a garbage token", async () => "not.a.jwt"],
    ["an expired token", (name) => signTestToken(SECRET, name, { expiresInS: -60 })],
    ["a token not valid yet", (name) => signTestToken(SECRET, name, { notBeforeS: 600 })],
    [
      "a token signed with another secret",
      (name) => signTestToken("another-secret-16-chars!", name),
    ],
    ["an alg: none token", async (name) => unsignedToken(name)],
    ["an HS512 token", (name) => signTestToken(SECRET, name, { alg: "HS512" })],
    ["another user's token", () => signTestToken(SECRET, "someone-else")],
  ];
  for (const [what, makeToken] of refused) {
    it(`refuses ${what} with UNAUTHORIZED and logs nobody in`, async () => {
      const name = uniqueName("mallory");
      const socket = connect(server.url);
      const token = await makeToken(name);
      const answer = await logIn(socket, name, token === undefined ? {} : { token });
      assert.equal(answer.ok, false);
      assert.equal(!answer.ok && answer.error.code, "UNAUTHORIZED");
      // Nobody is logged in as `name`: a logged-in observer's list leaves it out.
      const observer = connect(server.url);
      const watcher = uniqueName("observer");
      const observerToken = await signTestToken(SECRET, watcher);
      assert.ok((await logIn(observer, watcher, { token: observerToken })).ok);
      const users = await listUsers(observer);
      assert.ok(users.ok && !users.users.includes(name));
      const sendAnswer = await send(socket, "anyone", "hi");
      assert.equal(!sendAnswer.ok && sendAnswer.error.code, "NOT_LOGGED_IN");
    });
  }

  // The same tokens in the handshake's `auth.token` instead of the `log in` payload.
  for (const [what, makeToken] of refused.filter(([what]) => what !== "no token")) {
    it(`refuses ${what} in the handshake's auth.token with UNAUTHORIZED`, async () => {
      const name = uniqueName("mallory");
      const socket = connect(server.url, { auth: { token: await makeToken(name) } });
      const answer = await logIn(socket, name);
      assert.equal(!answer.ok && answer.error.code, "UNAUTHORIZED", JSON.stringify(answer));
      const sendAnswer = await send(socket, "anyone", "hi");
      assert.equal(!sendAnswer.ok && sendAnswer.error.code, "NOT_LOGGED_IN");
    });
  }
});
