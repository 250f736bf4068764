import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkLogIn, checkSend } from "../../src/chat/validate.js";

describe("checkLogIn", () => {
  it("accepts a valid username with optional since and token", () => {
    assert.deepEqual(checkLogIn({ username: "a.b-c_1" }), {
      ok: true,
      value: { username: "a.b-c_1", token: undefined, since: undefined },
    });
    assert.deepEqual(checkLogIn({ username: "x", since: "1700000000000-3", token: "t" }), {
      ok: true,
      value: { username: "x", token: "t", since: "1700000000000-3" },
    });
  });

  it("treats __proto__ and constructor as plain usernames", () => {
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const result = checkLogIn(JSON.parse(`{"username":"${name}"}`));
      assert.ok(result.ok && result.value.username === name);
    }
  });

  it("does not read inherited properties", () => {
    const payload = Object.create({ username: "inherited" });
    assert.equal(checkLogIn(payload).ok, false);
  });
});

describe("checkSend", () => {
  it("counts UTF-8 bytes, not characters", () => {
    assert.equal(checkSend({ username: "b", message: "€".repeat(3) }, 9).ok, true);
    const tooBig = checkSend({ username: "b", message: "€".repeat(4) }, 9);
    assert.equal(!tooBig.ok && tooBig.code, "MESSAGE_TOO_LARGE");
    assert.equal(checkSend({ username: "b", message: "x".repeat(9) }, 9).ok, true);
  });

  it("names the field at fault", () => {
    const noTo = checkSend({ message: "hi" }, 10);
    assert.equal(!noTo.ok && noTo.code, "INVALID_USERNAME");
    const noText = checkSend({ username: "b" }, 10);
    assert.equal(!noText.ok && noText.code, "INVALID_PAYLOAD");
  });
});
