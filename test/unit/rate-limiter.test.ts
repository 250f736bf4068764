import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TokenBucket } from "../../src/chat/rate-limiter.js";

describe("TokenBucket", () => {
  it("allows a burst, then the rate", () => {
    const bucket = new TokenBucket(10, 20, 0);
    let passed = 0;
    for (let i = 0; i < 50; i++) if (bucket.take(0)) passed++;
    assert.equal(passed, 20);
    assert.equal(bucket.take(50), false, "half a token after 50 ms");
    assert.equal(bucket.take(100), true, "one token after 100 ms");
    // A long pause refills to the burst size, no more.
    let later = 0;
    for (let i = 0; i < 50; i++) if (bucket.take(60_000)) later++;
    assert.equal(later, 20);
  });
});
