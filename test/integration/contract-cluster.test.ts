/**
 * The shared chat contract suite in multi-host mode on a Redis Cluster: two hosts with 2
 * workers each, 3 masters + 3 replicas, a fresh key prefix.
 */
import { Cluster } from "ioredis";
import { startHost } from "../helpers/multi-host.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { startRedisCluster } from "../helpers/redis-cluster.js";
import { runContractSuite } from "./contract-suite.js";

runContractSuite("multi-host mode, 2 hosts x 2 workers, Redis Cluster", async () => {
  const cluster = await startRedisCluster(3);
  const prefix = randomPrefix();
  const host = (nodeId: string) =>
    startHost({ redis: ["--redis-cluster", cluster.seeds], prefix, nodeId });
  const [a, b] = await Promise.all([host("host-a"), host("host-b")]);
  const probe = new Cluster(
    cluster.nodes.map((node) => ({ host: node.host, port: node.port })),
    { lazyConnect: true },
  );
  return {
    urls: [a.url, b.url],
    inboxTtlSeconds: (user) => probe.ttl(`${prefix}:inbox:{${user}}`),
    stop: async () => {
      probe.disconnect();
      await Promise.all([a.stop(), b.stop()]);
      await cluster.stop();
    },
  };
});
