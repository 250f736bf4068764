/**
 * Two real chat-server hosts (embedded mode, two workers each) behind the repository's
 * haproxy.cfg, reached with socket.io-client over polling only, WebSocket only, and polling then
 * upgrade. Embedded hosts share nothing, so this proves the proxying, the stickiness and the
 * fail-over, not chat between hosts (that needs multi-host mode, tested with Redis).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import {
  type ChatClient,
  closeAll,
  connect,
  connectAs,
  listUsers,
  logIn,
  send,
  uniqueName,
  waitForEvent,
  waitForMessages,
} from "../helpers/clients.js";
import {
  type Haproxy,
  haproxyUnavailable,
  startHaproxy,
  waitForServerStatus,
} from "../helpers/haproxy.js";

/** Which host each user is logged in on, asked of each host directly (not through HAProxy). */
async function usersByHost(hosts: ChatServer[]): Promise<Set<string>[]> {
  return Promise.all(
    hosts.map(async (host) => {
      const probe = await connectAs(host.url, uniqueName("probe"), { transport: "websocket" });
      const answer = await listUsers(probe);
      probe.disconnect();
      assert.ok(answer.ok);
      return new Set(answer.users);
    }),
  );
}

describe("chat-server hosts behind haproxy.cfg", { skip: haproxyUnavailable }, () => {
  let haproxy: Haproxy;
  const hosts: ChatServer[] = [];
  /** Polling-only clients of the first test, by username. */
  const pollers = new Map<string, ChatClient>();

  before(async () => {
    const args = ["--rate-limit", "1000", "--shutdown-timeout", "5"];
    // Ports the OS chose (--port 0), then given to HAProxy: no other process can take them.
    const [one, two] = await Promise.all([
      startChatServer({ workers: 2, args }),
      startChatServer({ workers: 2, args }),
    ]);
    hosts.push(one, two);
    haproxy = await startHaproxy({ backends: [one.port, two.port] });
    await waitForServerStatus(haproxy.statsUrl, "chat1", "UP");
    await waitForServerStatus(haproxy.statsUrl, "chat2", "UP");
  });

  after(async () => {
    closeAll();
    await haproxy?.stop();
    await Promise.all(hosts.map((host) => host.stop()));
  });

  it("keeps polling-only clients on their host, spread over both", async () => {
    // A disconnect is recorded and asserted below: a throw in a listener would surface as an
    // uncaught exception, not as this test's failure.
    const disconnects: string[] = [];
    for (let i = 0; i < 6; i++) {
      const name = uniqueName("poll");
      const client = await connectAs(haproxy.url, name, { transport: "polling", upgrade: false });
      client.on("disconnect", (reason) => disconnects.push(`${name}: ${reason}`));
      pollers.set(name, client);
    }
    // Every ack is a POST and a GET of the session: each must reach the host holding it.
    for (let round = 0; round < 5; round++) {
      for (const client of pollers.values()) assert.ok((await listUsers(client)).ok);
    }
    for (const client of pollers.values()) {
      assert.equal(client.io.engine.transport.name, "polling");
      client.removeAllListeners("disconnect");
    }
    assert.deepEqual(disconnects, [], "polling clients lost their session behind HAProxy");
    const [onA, onB] = (await usersByHost(hosts)) as [Set<string>, Set<string>];
    for (const name of pollers.keys()) {
      assert.ok(onA.has(name) !== onB.has(name), `${name} should be on exactly one host`);
    }
    assert.ok(
      [...pollers.keys()].some((name) => onA.has(name)),
      "no client on the first host",
    );
    assert.ok(
      [...pollers.keys()].some((name) => onB.has(name)),
      "no client on the second host",
    );
  });

  it("delivers a message between two polling clients of one host", async () => {
    const byHost = await usersByHost(hosts);
    const host = byHost.find(
      (users) => [...pollers.keys()].filter((n) => users.has(n)).length >= 2,
    );
    assert.ok(host, "expected two polling clients on one host");
    const [from, to] = [...pollers.keys()].filter((name) => host.has(name)) as [string, string];
    const answer = await send(pollers.get(from) as ChatClient, to, "through haproxy");
    assert.deepEqual(answer.ok && answer.status, "delivered");
    const received = await waitForMessages(pollers.get(to) as ChatClient, (m) =>
      m.some((x) => x.message === "through haproxy"),
    );
    assert.equal(received.at(-1)?.from, from);
  });

  it("connects a WebSocket-only client", async () => {
    const client = await connectAs(haproxy.url, uniqueName("ws"), { transport: "websocket" });
    assert.equal(client.io.engine.transport.name, "websocket");
    assert.ok((await listUsers(client)).ok);
  });

  it("upgrades a default client from polling to WebSocket", async () => {
    const client = connect(haproxy.url);
    await waitForEvent(client, "connect");
    const engine = client.io.engine;
    if (engine.transport.name !== "websocket") {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no upgrade within 10 s")), 10_000);
        engine.once("upgrade", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const answer = await logIn(client, uniqueName("up"));
    assert.ok(answer.ok);
    assert.equal(engine.transport.name, "websocket");
  });

  it("moves a stopped host's clients, polling and WebSocket, to the other host", async () => {
    const clients = new Map(pollers);
    for (let i = 0; i < 4; i++) {
      const name = uniqueName("ws");
      clients.set(name, await connectAs(haproxy.url, name, { transport: "websocket" }));
    }
    const [onA] = (await usersByHost(hosts)) as [Set<string>];
    const moving = [...clients].filter(([name]) => onA.has(name));
    assert.ok(
      moving.some(([name]) => name.startsWith("poll")),
      "no polling client on host 1",
    );
    assert.ok(
      moving.some(([name]) => name.startsWith("ws")),
      "no WebSocket client on host 1",
    );

    const reconnected = moving.map(([, client]) => waitForEvent(client, "connect", 20_000));
    const started = Date.now();
    assert.equal(await hosts[0]?.stop(), 0);
    await Promise.all(reconnected);
    console.log(`# ${moving.length} clients reconnected ${Date.now() - started} ms after SIGTERM`);
    for (const [name, client] of moving) assert.ok((await logIn(client, name)).ok, name);
    const [onB] = (await usersByHost(hosts.slice(1))) as [Set<string>];
    for (const [name] of moving) assert.ok(onB.has(name), `${name} should be on host 2 now`);
    await waitForServerStatus(haproxy.statsUrl, "chat1", "DOWN");
  });
});
