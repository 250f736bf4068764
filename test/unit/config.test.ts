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

  it("binds loopback only without an auth secret (protected mode), every address with one", () => {
    assert.equal(resolveConfig({}).host, "127.0.0.1");
    const secret = "a-secret-of-16-chars-or-more";
    assert.equal(resolveConfig({ authSecret: secret }).host, "0.0.0.0");
    assert.equal(resolveConfig({ host: "0.0.0.0" }).host, "0.0.0.0");
    assert.equal(resolveConfig({ authSecret: secret, host: "10.1.2.3" }).host, "10.1.2.3");
  });

  it("has a bound for every abuse limit by default", () => {
    const config = resolveConfig({});
    assert.equal(config.maxConnectionsPerIp, 1000);
    assert.equal(config.requestHeadTimeout, 10);
    assert.equal(config.maxUnsentBytes, 8 * 1024 * 1024);
    assert.equal(config.maxSessionsPerUser, 32);
    assert.equal(config.maxStoredBytesPerUser, 4 * 1024 * 1024);
    assert.equal(config.maxConcurrentReplays, 16);
    assert.throws(() => resolveConfig({ maxUnsentBytes: 100 }), /--max-unsent-bytes/);
    assert.throws(() => resolveConfig({ requestHeadTimeout: 0 }), /--request-head-timeout/);
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
