/**
 * The shared chat contract suite in multi-host mode on a Redis Cluster: two hosts with 2
 * workers each, 3 masters + 3 replicas, a fresh key prefix.
 */
import { startChatServer } from "../helpers/chat-server.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { startRedisCluster } from "../helpers/redis-cluster.js";
import { runContractSuite } from "./contract-suite.js";

runContractSuite("multi-host mode, 2 hosts x 2 workers, Redis Cluster", async () => {
  const cluster = await startRedisCluster(3);
  const prefix = randomPrefix();
  const host = (name: string) =>
    startChatServer({
      workers: 2,
      args: [
        "--rate-limit",
        "1000",
        "--redis-cluster",
        cluster.seeds,
        "--redis-prefix",
        prefix,
        "--node-id",
        name,
      ],
    });
  const [a, b] = await Promise.all([host("host-a"), host("host-b")]);
  return {
    urls: [a.url, b.url],
    stop: async () => {
      await Promise.all([a.stop(), b.stop()]);
      await cluster.stop();
    },
  };
});
