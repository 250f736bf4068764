/**
 * SIGHUP replaces the workers one at a time under continuous traffic: /readyz never fails, and
 * clients that log in again with `since` have lost no acknowledged message, which arrived in the
 * order it was sent. In embedded mode on one host; in multi-host mode on two hosts on one Redis,
 * the sender on one and the receiver on the other, both hosts rolled at once.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import { closeAll, connectTracking, uniqueName } from "../helpers/clients.js";
import { startHost } from "../helpers/multi-host.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { startRedis } from "../helpers/redis-server.js";
import { eventually } from "../helpers/wait.js";

interface Deployment {
  /** Where the sender connects, and where the receiver does. */
  senderHost: ChatServer;
  receiverHost: ChatServer;
  stop(): Promise<void>;
}

function rollingRestartSuite(label: string, deploy: () => Promise<Deployment>): void {
  describe(`rolling restart (SIGHUP, ${label})`, () => {
    let deployment: Deployment;
    before(async () => {
      deployment = await deploy();
    });
    after(async () => {
      closeAll();
      await deployment.stop();
    });

    it("keeps serving: readiness stays 200, no acknowledged message lost, order per sender kept", async () => {
      const { senderHost, receiverHost } = deployment;
      const hosts = [...new Set([senderHost, receiverHost])];
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const receiver = connectTracking(receiverHost.url, bob);
      const sender = connectTracking(senderHost.url, alice, { transport: "websocket" });
      await eventually(() => assert.ok(receiver.logins === 1 && sender.logins === 1));

      const acked = new Set<string>();
      let sent = 0;
      const sendTimer = setInterval(() => {
        if (!sender.connected) return;
        sent++;
        sender.emit("send message", { username: bob, message: `m${sent}` }, (answer) => {
          if (answer.ok) acked.add(answer.id);
        });
      }, 5);

      const readiness: number[] = [];
      let polling = true;
      const poll = (async () => {
        while (polling) {
          for (const host of hosts) {
            const res = await fetch(`${host.url}/readyz`).catch(() => undefined);
            readiness.push(res?.status ?? 0);
            await res?.arrayBuffer();
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();

      const workersBefore = hosts.map((host) => host.workerPids());
      await eventually(() => assert.ok(acked.size >= 50));
      for (const host of hosts) host.proc.kill("SIGHUP");
      for (const host of hosts) {
        await eventually(
          () => assert.ok(host.logs().some((log) => log.msg === "rolling restart done")),
          30_000,
        );
      }
      // Both clients were moved off the old workers and logged in again.
      await eventually(() => assert.ok(receiver.logins >= 2 && sender.logins >= 2), 15_000);
      const ackedAtRestart = acked.size;
      await eventually(() => assert.ok(acked.size >= ackedAtRestart + 50), 15_000);
      clearInterval(sendTimer);
      polling = false;
      await poll;

      for (const [i, host] of hosts.entries()) {
        const newWorkers = host.workerPids().filter((pid) => !workersBefore[i]?.includes(pid));
        assert.equal(newWorkers.length, 2, "both workers of each host were replaced");
      }
      assert.ok(
        readiness.every((status) => status === 200),
        `readyz answers: ${[...new Set(readiness)].join(",")}`,
      );
      await eventually(() => {
        const missing = [...acked].filter((id) => !receiver.unique.has(id));
        assert.deepEqual(
          missing,
          [],
          `${missing.length} of ${acked.size} acknowledged messages missing`,
        );
      }, 15_000);
      // Order per sender across the roll: each acknowledged message first arrived after every
      // acknowledged one sent before it (a replay after the reconnect repeats some; not counted).
      const arrival = [...receiver.unique.values()]
        .filter((m) => acked.has(m.id))
        .map((m) => Number(m.message.slice(1)));
      assert.deepEqual(
        arrival,
        [...arrival].sort((x, y) => x - y),
        "acknowledged messages arrived out of the order they were sent",
      );
      console.log(
        `rolling restart (${label}): sent ${sent}, acknowledged ${acked.size}, received ${receiver.unique.size}`,
      );
    });
  });
}

rollingRestartSuite("embedded mode", async () => {
  const server = await startChatServer({ workers: 2, args: ["--rate-limit", "1000"] });
  return {
    senderHost: server,
    receiverHost: server,
    stop: async () => {
      await server.stop();
    },
  };
});

rollingRestartSuite("multi-host mode, 2 hosts on one Redis", async () => {
  const redis = await startRedis();
  const prefix = randomPrefix();
  const [a, b] = await Promise.all(
    ["host-a", "host-b"].map((nodeId) =>
      startHost({ redis: ["--redis", redis.url], prefix, nodeId }),
    ),
  );
  return {
    senderHost: a as ChatServer,
    receiverHost: b as ChatServer,
    stop: async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await redis.stop();
    },
  };
});
