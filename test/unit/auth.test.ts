import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTokenVerifier, MAX_TOKEN_LENGTH, type TokenCheck } from "../../src/chat/auth.js";
import { signTestToken, unsignedToken } from "../helpers/tokens.js";

const SECRET = "test-secret-0123456789abcdef";
const verify = createTokenVerifier(SECRET);

function assertRefused(check: TokenCheck, reason: RegExp): void {
  assert.equal(check.ok, false, `expected a refusal, got ${JSON.stringify(check)}`);
  if (!check.ok) assert.match(check.reason, reason);
}

describe("createTokenVerifier", () => {
  it("accepts a valid HS256 token for its sub", async () => {
    const token = await signTestToken(SECRET, "alice");
    const check = await verify(token, "alice");
    assert.deepEqual(check.ok && check.username, "alice");
    // The session ends at the token's exp (an hour from now), in epoch milliseconds.
    const expiresIn = check.ok ? check.expiresAt - Date.now() : 0;
    assert.ok(expiresIn > 3590_000 && expiresIn <= 3600_000, `expires in ${expiresIn} ms`);
  });

  it("takes the username from sub when none is asked for (handshake auth.token)", async () => {
    const token = await signTestToken(SECRET, "bob.smith-2");
    const check = await verify(token, undefined);
    assert.equal(check.ok && check.username, "bob.smith-2");
  });

  it("treats __proto__ as an ordinary username", async () => {
    const token = await signTestToken(SECRET, "__proto__");
    const check = await verify(token, "__proto__");
    assert.equal(check.ok && check.username, "__proto__");
  });

  it("refuses a missing token", async () => {
    assertRefused(await verify(undefined, "alice"), /no token/);
    assertRefused(await verify("", "alice"), /no token/);
  });

  it("refuses non-string tokens without throwing", async () => {
    for (const token of [null, 42, {}, [], { toString: () => "x" }, true]) {
      assertRefused(await verify(token, "alice"), /no token/);
    }
  });

  it("refuses garbage", async () => {
    for (const token of ["garbage", "a.b.c", "...", "eyJ.eyJ.x", "a".repeat(500)]) {
      assertRefused(await verify(token, "alice"), /invalid token/);
    }
  });

  it("refuses an over-long string before parsing it", async () => {
    assertRefused(await verify("a".repeat(MAX_TOKEN_LENGTH + 1), "alice"), /longer than/);
  });

  it("refuses an expired token", async () => {
    const token = await signTestToken(SECRET, "alice", { expiresInS: -60 });
    assertRefused(await verify(token, "alice"), /expired/);
  });

  it("tolerates a few seconds of clock skew on exp", async () => {
    const token = await signTestToken(SECRET, "alice", { expiresInS: -2 });
    assert.equal((await verify(token, "alice")).ok, true);
  });

  it("refuses a token without exp", async () => {
    const token = await signTestToken(SECRET, "alice", { noExp: true });
    assertRefused(await verify(token, "alice"), /exp/);
  });

  it("refuses a token that is not yet valid", async () => {
    const token = await signTestToken(SECRET, "alice", { notBeforeS: 120 });
    assertRefused(await verify(token, "alice"), /not yet valid/);
  });

  it("tolerates a few seconds of clock skew on nbf", async () => {
    const token = await signTestToken(SECRET, "alice", { notBeforeS: 2 });
    assert.equal((await verify(token, "alice")).ok, true);
  });

  it("refuses a token signed with another secret", async () => {
    const token = await signTestToken("another-secret-0123456789", "alice");
    assertRefused(await verify(token, "alice"), /bad signature/);
  });

  it("refuses a token whose payload was altered after signing", async () => {
    const token = await signTestToken(SECRET, "alice");
    const [header, , signature] = token.split(".");
    const forged = Buffer.from(JSON.stringify({ sub: "mallory", exp: 9_999_999_999 })).toString(
      "base64url",
    );
    assertRefused(await verify(`${header}.${forged}.${signature}`, "mallory"), /bad signature/);
  });

  it("refuses alg: none, however it is spelled", async () => {
    assertRefused(await verify(unsignedToken("alice"), "alice"), /algorithm|invalid token/);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const payload = part({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 3600 });
    for (const alg of ["None", "NONE", "nOnE"]) {
      const token = `${part({ alg, typ: "JWT" })}.${payload}.`;
      assertRefused(await verify(token, "alice"), /algorithm|invalid token/);
    }
  });

  it("refuses HS384 and HS512 even with the right secret", async () => {
    for (const alg of ["HS384", "HS512"] as const) {
      const token = await signTestToken(SECRET, "alice", { alg });
      assertRefused(await verify(token, "alice"), /algorithm not allowed/);
    }
  });

  it("refuses an HS512 signature relabelled as HS256", async () => {
    const hs512 = await signTestToken(SECRET, "alice", { alg: "HS512" });
    const hs256 = await signTestToken(SECRET, "alice");
    const [header256] = hs256.split(".");
    const [, payload512, signature512] = hs512.split(".");
    assertRefused(
      await verify(`${header256}.${payload512}.${signature512}`, "alice"),
      /bad signature/,
    );
  });

  it("refuses another user's token", async () => {
    const token = await signTestToken(SECRET, "bob");
    assertRefused(await verify(token, "alice"), /does not match/);
  });

  it("compares the username exactly (case-sensitive)", async () => {
    const token = await signTestToken(SECRET, "Alice");
    assertRefused(await verify(token, "alice"), /does not match/);
  });

  it("refuses a token whose sub is not a valid username", async () => {
    for (const sub of ["", "has space", "x".repeat(33), "ünï", "a/b"]) {
      const token = await signTestToken(SECRET, sub);
      assertRefused(await verify(token, undefined), /sub is not a valid username|sub/);
    }
  });

  it("refuses a token without sub or with a non-string sub", async () => {
    for (const sub of [undefined, 42, { name: "alice" }]) {
      const token = await signTestToken(SECRET, sub);
      assertRefused(await verify(token, undefined), /sub/);
    }
  });

  it("never puts the token in the reason", async () => {
    const token = await signTestToken("another-secret-0123456789", "alice");
    const check = await verify(token, "alice");
    assert.equal(check.ok, false);
    if (!check.ok) {
      for (const part of token.split(".")) assert.equal(check.reason.includes(part), false);
    }
  });

  it("refuses to build a verifier without a secret", () => {
    assert.throws(() => createTokenVerifier(""), TypeError);
  });
});
