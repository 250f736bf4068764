import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chooseAcceptMode, runtimeHasReusePort } from "../../src/cluster/accept-mode.js";

describe("accept mode", () => {
  it("knows which Node.js versions have reusePort (22.12+, 23.1+)", () => {
    assert.equal(runtimeHasReusePort("20.20.2"), false);
    assert.equal(runtimeHasReusePort("22.11.0"), false);
    assert.equal(runtimeHasReusePort("22.12.0"), true);
    assert.equal(runtimeHasReusePort("23.0.0"), false);
    assert.equal(runtimeHasReusePort("23.1.0"), true);
    assert.equal(runtimeHasReusePort("24.0.0"), true);
    assert.equal(runtimeHasReusePort("26.12.1"), true);
  });

  it("CHAT_SERVER_ACCEPT=primary makes the primary accept on any runtime", () => {
    assert.equal(chooseAcceptMode({ CHAT_SERVER_ACCEPT: "primary" }), "primary");
    const expected = runtimeHasReusePort() && process.platform === "linux" ? "workers" : "primary";
    assert.equal(chooseAcceptMode({}), expected);
  });
});
