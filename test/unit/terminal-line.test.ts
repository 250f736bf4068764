import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError } from "../../src/client/error-text.js";
import { formatIncoming, parseLine, printable } from "../../src/client/line.js";
import { ErrorCode } from "../../src/protocol.js";

describe("terminal client lines", () => {
  it("reads `recipient: text`", () => {
    assert.deepEqual(parseLine("bob: hello there"), {
      ok: true,
      line: { recipient: "bob", text: "hello there" },
    });
  });

  it("keeps colons and spacing inside the text, drops the line end", () => {
    assert.deepEqual(parseLine("  bob :  at 10:30, ok?\r\n"), {
      ok: true,
      line: { recipient: "bob", text: " at 10:30, ok?" },
    });
    assert.deepEqual(parseLine("bob:no-space"), {
      ok: true,
      line: { recipient: "bob", text: "no-space" },
    });
  });

  it("takes every valid username, including names like __proto__", () => {
    for (const name of ["__proto__", "constructor", "a.b-c_d", "x".repeat(32)]) {
      assert.deepEqual(parseLine(`${name}: hi`), {
        ok: true,
        line: { recipient: name, text: "hi" },
      });
    }
  });

  it("ignores blank lines", () => {
    assert.equal(parseLine(""), undefined);
    assert.equal(parseLine("   \r\n"), undefined);
  });

  it("explains lines it cannot send", () => {
    const noColon = parseLine("hello");
    assert.equal(noColon?.ok, false);
    assert.match(noColon?.ok === false ? noColon.reason : "", /recipient: text/);
    const badName = parseLine("bob smith: hi");
    assert.match(badName?.ok === false ? badName.reason : "", /"bob smith" is not a username/);
    const tooLong = parseLine(`${"x".repeat(33)}: hi`);
    assert.equal(tooLong?.ok, false);
    const empty = parseLine("bob:   ");
    assert.match(empty?.ok === false ? empty.reason : "", /no text to send to bob/);
  });

  it("prints `from: text` on one line, with control characters escaped", () => {
    assert.equal(formatIncoming("alice", "hi bob"), "alice: hi bob");
    assert.equal(formatIncoming("alice", "two\nlines\r\nthree"), "alice: two\\nlines\\nthree");
    assert.equal(
      printable("red \u001b[31m bell \u0007 tab\tok"),
      "red \\x1b[31m bell \\x07 tab\tok",
    );
    assert.equal(printable("naïve ☕ 🙂 \u0085"), "naïve ☕ 🙂 \\x85");
  });

  it("words every error code for a person, keeping the code", () => {
    for (const code of Object.values(ErrorCode)) {
      const text = describeError({ code, message: "internal words" });
      assert.ok(text.endsWith(`(${code})`), text);
      assert.ok(!text.includes("internal words"), text);
    }
    assert.equal(
      describeError({ code: "SOMETHING_NEW" as ErrorCode, message: "new thing" }),
      "new thing (SOMETHING_NEW)",
    );
  });
});
