import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTyping, checkWatch } from "../../src/chat/validate.js";
import { WatchBook } from "../../src/chat/watch-book.js";

describe("WatchBook", () => {
  it("tells the back-end only of the first watcher here and the last one gone", () => {
    const book = new WatchBook<string>(10);
    assert.deepEqual(book.add("s1", ["amy", "bob"]), { ok: true, added: ["amy", "bob"] });
    assert.deepEqual(book.add("s2", ["bob", "cy"]), { ok: true, added: ["cy"] });
    assert.deepEqual([...(book.watchersOf("bob") ?? [])], ["s1", "s2"]);
    assert.deepEqual(book.remove("s1", ["bob", "nobody"]), []);
    assert.deepEqual(book.drop("s2"), ["bob", "cy"]);
    assert.deepEqual(book.drop("s1"), ["amy"]);
    assert.equal(book.watchedUserCount(), 0);
    assert.equal(book.watchersOf("amy"), undefined);
  });

  it("refuses a call that would pass the per-connection limit, changing nothing", () => {
    const book = new WatchBook<string>(3);
    assert.equal(book.add("s", ["a", "b"]).ok, true);
    assert.deepEqual(book.add("s", ["c", "d"]), { ok: false });
    assert.equal(book.watchersOf("c"), undefined);
    // Names already watched do not count twice.
    assert.deepEqual(book.add("s", ["a", "b", "c"]), { ok: true, added: ["c"] });
    assert.deepEqual(book.add("other", ["d", "e", "f"]), { ok: true, added: ["d", "e", "f"] });
  });
});

describe("checkWatch / checkTyping", () => {
  it("accepts 1-500 valid names, duplicates once", () => {
    assert.deepEqual(checkWatch({ usernames: ["a", "b", "a"] }, 500), {
      ok: true,
      value: ["a", "b"],
    });
    const many = Array.from({ length: 500 }, (_, i) => `u${i}`);
    assert.equal(checkWatch({ usernames: many }, 500).ok, true);
  });

  it("answers each mistake with its code", () => {
    const code = (payload: unknown) => {
      const result = checkWatch(payload, 500);
      return result.ok ? "ok" : result.code;
    };
    assert.equal(code(undefined), "INVALID_PAYLOAD");
    assert.equal(code({ usernames: "amy" }), "INVALID_PAYLOAD");
    assert.equal(code({ usernames: [] }), "INVALID_PAYLOAD");
    assert.equal(
      code({ usernames: Array.from({ length: 501 }, (_, i) => `u${i}`) }),
      "INVALID_PAYLOAD",
    );
    assert.equal(code({ usernames: ["ok", 42] }), "INVALID_USERNAME");
    assert.equal(code({ usernames: ["has space"] }), "INVALID_USERNAME");
    assert.equal(code(Object.create({ usernames: ["a"] })), "INVALID_PAYLOAD");
    assert.deepEqual(checkTyping({ username: "__proto__" }), { ok: true, value: "__proto__" });
    const typing = checkTyping({ username: "" });
    assert.equal(!typing.ok && typing.code, "INVALID_USERNAME");
    const notObject = checkTyping("bob");
    assert.equal(!notObject.ok && notObject.code, "INVALID_PAYLOAD");
  });
});
