/**
 * `list users` answers at most 1000 names (CONTRACT.md section 3), through real servers with
 * more users than that online: in embedded mode on one host, and in multi-host mode with the
 * users spread over two hosts on one Redis and on a 3-master Redis Cluster (where their presence
 * is spread over every master). The names are online ones, sorted, each once.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import { type ChatClient, closeAll, connectAs, listUsers, uniqueName } from "../helpers/clients.js";
import { startHost } from "../helpers/multi-host.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { startRedisCluster } from "../helpers/redis-cluster.js";
import { startRedis } from "../helpers/redis-server.js";

const CAP = 1000;
const ONLINE = CAP + 10;
/** Clients connecting at once: enough to be quick, few enough for a loaded 2-core machine. */
const BATCH = 100;

interface Deployment {
  urls: string[];
  stop(): Promise<void>;
}

function listCapSuite(label: string, deploy: () => Promise<Deployment>): void {
  describe(`list users is capped at ${CAP} (${label})`, () => {
    let deployment: Deployment;
    before(async () => {
      deployment = await deploy();
    });
    after(async () => {
      closeAll();
      await deployment.stop();
    });

    it(`${ONLINE} users online: ${CAP} names, online ones, sorted, each once`, async () => {
      const { urls } = deployment;
      const names = Array.from({ length: ONLINE }, () => uniqueName("crowd"));
      const clients: ChatClient[] = [];
      const started = Date.now();
      for (let i = 0; i < names.length; i += BATCH) {
        const batch = names.slice(i, i + BATCH);
        clients.push(
          ...(await Promise.all(
            batch.map((name, j) =>
              connectAs(urls[(i + j) % urls.length] as string, name, { transport: "websocket" }),
            ),
          )),
        );
      }
      const loggedInMs = Date.now() - started;
      const online = new Set(names);
      for (const client of [clients[0], clients.at(-1)] as ChatClient[]) {
        const answer = await listUsers(client);
        assert.ok(answer.ok, JSON.stringify(answer));
        assert.equal(answer.users.length, CAP, `listed ${answer.users.length} of ${ONLINE}`);
        assert.equal(new Set(answer.users).size, CAP, "each name once");
        assert.deepEqual(answer.users, [...answer.users].sort(), "sorted");
        const strangers = answer.users.filter((name) => !online.has(name));
        assert.deepEqual(strangers, [], "only users that are online");
      }
      console.log(`list users (${label}): ${ONLINE} users logged in in ${loggedInMs} ms`);
    });
  });
}

/** Every user of this test comes from 127.0.0.1: lift the per-address cap above them. */
const manyFromOneAddress = ["--max-connections-per-ip", String(2 * ONLINE)];

listCapSuite("embedded mode", async () => {
  const server = await startChatServer({ workers: 2, args: manyFromOneAddress });
  return { urls: [server.url], stop: async () => void (await server.stop()) };
});

listCapSuite("multi-host mode, 2 hosts on one Redis", async () => {
  const redis = await startRedis();
  const prefix = randomPrefix();
  const hosts: ChatServer[] = await Promise.all(
    ["host-a", "host-b"].map((nodeId) =>
      startHost({ redis: ["--redis", redis.url], prefix, nodeId, args: manyFromOneAddress }),
    ),
  );
  return {
    urls: hosts.map((host) => host.url),
    stop: async () => {
      await Promise.all(hosts.map((host) => host.stop()));
      await redis.stop();
    },
  };
});

listCapSuite("multi-host mode, 2 hosts on a 3-master Redis Cluster", async () => {
  const cluster = await startRedisCluster(3);
  const prefix = randomPrefix();
  const hosts: ChatServer[] = await Promise.all(
    ["host-a", "host-b"].map((nodeId) =>
      startHost({
        redis: ["--redis-cluster", cluster.seeds],
        prefix,
        nodeId,
        args: manyFromOneAddress,
      }),
    ),
  );
  return {
    urls: hosts.map((host) => host.url),
    stop: async () => {
      await Promise.all(hosts.map((host) => host.stop()));
      await cluster.stop();
    },
  };
});
