/**
 * The shared chat contract suite in multi-host mode: two hosts with 2 workers each, one Redis,
 * a fresh key prefix. Clients of one test connect to both hosts.
 */
import { Redis } from "ioredis";
import { startHost } from "../helpers/multi-host.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { startRedis } from "../helpers/redis-server.js";
import { runContractSuite } from "./contract-suite.js";

runContractSuite("multi-host mode, 2 hosts x 2 workers, Redis", async () => {
  const redis = await startRedis();
  const prefix = randomPrefix();
  const host = (nodeId: string) => startHost({ redis: ["--redis", redis.url], prefix, nodeId });
  const [a, b] = await Promise.all([host("host-a"), host("host-b")]);
  const probe = new Redis({ host: "127.0.0.1", port: redis.port, lazyConnect: true });
  return {
    urls: [a.url, b.url],
    inboxTtlSeconds: (user) => probe.ttl(`${prefix}:inbox:{${user}}`),
    stop: async () => {
      probe.disconnect();
      await Promise.all([a.stop(), b.stop()]);
      await redis.stop();
    },
  };
});
