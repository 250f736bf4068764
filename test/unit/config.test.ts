import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, parseRedisUrl, parseSentinels, resolveConfig } from "../../src/config.js";

describe("config", () => {
  it("fills defaults and freezes", () => {
    const config = resolveConfig({ port: 8080 });
    assert.equal(config.port, 8080);
    assert.equal(config.maxMessageBytes, 4096);
    assert.equal(config.nodeId.endsWith(":8080"), true);
    assert.ok(Object.isFrozen(config));
  });

  it("accepts every Redis address form", () => {
    assert.equal(parseRedisUrl("cache"), "redis://cache:6379");
    assert.equal(parseRedisUrl("10.0.0.5:6380"), "redis://10.0.0.5:6380");
    assert.equal(parseRedisUrl("rediss://user:pw@host:6390/2"), "rediss://user:pw@host:6390/2");
    assert.throws(() => parseRedisUrl("host:99999"), ConfigError);
    assert.deepEqual(parseSentinels("a:26379, b"), [
      { host: "a", port: 26379 },
      { host: "b", port: 26379 },
    ]);
  });

  it("refuses bad values with the option's name", () => {
    assert.throws(() => resolveConfig({ workers: 0 }), /--workers/);
    assert.throws(() => resolveConfig({ authSecret: "short" }), /--auth-secret/);
    assert.throws(() => resolveConfig({ redisPrefix: "has space" }), /--redis-prefix/);
  });
});
