/**
 * Per-address and per-host bounds on connections (issue 15, demonstrations 3 and 4): a request
 * head has a fixed deadline from accept that trickled bytes do not extend, connections still
 * sending their head count against --max-connections-per-ip from accept, and Socket.IO
 * handshakes pipelined on one connection open one session, not one each.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { MAX_HANDOFFS_IN_FLIGHT } from "../../src/cluster/sticky-balancer.js";
import { type ChatServer, startChatServer } from "../helpers/chat-server.js";
import { limitHits, primaryFds, scrapeMetrics } from "../helpers/host-usage.js";
import { eventually } from "../helpers/wait.js";

const HEAD_TIMEOUT_S = 3;
const LIMIT = 5;

interface RawConnection {
  socket: net.Socket;
  /** Everything the server sent. */
  received(): string;
  /** Milliseconds from connect to close, once closed. */
  closedAfterMs(): number | undefined;
}

function rawConnect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const start = Date.now();
    let data = "";
    let closedAfter: number | undefined;
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closedAfter = Date.now() - start;
    });
    socket.once("connect", () =>
      resolve({ socket, received: () => data, closedAfterMs: () => closedAfter }),
    );
    socket.once("error", reject);
  });
}

async function openSessions(url: string): Promise<number> {
  return (await scrapeMetrics(url)).get("chat_connected_sockets") ?? 0;
}

describe("connection limits", () => {
  let server: ChatServer;
  before(async () => {
    server = await startChatServer({
      workers: 1,
      args: [
        ...["--max-connections-per-ip", String(LIMIT)],
        ...["--request-head-timeout", String(HEAD_TIMEOUT_S)],
      ],
    });
  });
  after(async () => {
    await server.stop();
  });

  it("a head trickled a byte at a time gets 408 at the fixed deadline", async () => {
    const fdsBefore = primaryFds(server);
    const head = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: slow\r\nX-Pad: ";
    const connections = await Promise.all(
      Array.from({ length: LIMIT }, () => rawConnect(server.port)),
    );
    // One byte every 200 ms, for at most 15 s (an idle timer would never fire).
    for (let i = 0; i < 75 && connections.some((c) => c.closedAfterMs() === undefined); i++) {
      for (const c of connections) {
        if (c.closedAfterMs() === undefined) c.socket.write(head[i % head.length] ?? "x");
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (const c of connections) {
      const after = c.closedAfterMs();
      assert.ok(after !== undefined, "still open after 15 s of trickling");
      assert.ok(after < (HEAD_TIMEOUT_S + 4) * 1000, `closed after ${after} ms`);
      assert.match(c.received(), /^HTTP\/1\.1 408 /);
    }
    assert.ok((await limitHits(server.url, "request_head_timeout")) >= LIMIT);
    await eventually(() => assert.ok(primaryFds(server) <= fdsBefore, "fds not released"));
  });

  it("connections still sending their head count per address from accept: 429 past it", async () => {
    const hitsBefore = await limitHits(server.url, "connections_per_ip");
    const idle = await Promise.all(Array.from({ length: LIMIT }, () => rawConnect(server.port)));
    const extra = await rawConnect(server.port);
    await eventually(() => assert.ok(extra.closedAfterMs() !== undefined, "not closed"));
    assert.match(extra.received(), /^HTTP\/1\.1 429 /);
    for (const c of idle) c.socket.destroy();
    // Once they are gone, the address may connect again (a scrape refused while they were still
    // closing counts as a hit too: at least the extra connection's).
    await eventually(async () => {
      assert.ok((await limitHits(server.url, "connections_per_ip")) >= hitsBefore + 1);
    });
  });

  it("handshakes pipelined on one connection open one session", async () => {
    const sessionsBefore = await openSessions(server.url);
    const c = await rawConnect(server.port);
    const request = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: pipe\r\n\r\n";
    c.socket.write(request.repeat(10));
    await eventually(() => assert.ok(c.closedAfterMs() !== undefined, "not closed"));
    assert.match(c.received(), /"sid":/);
    // Only the first opened a session (before: all ten did, past the address's limit).
    await eventually(async () => {
      assert.ok((await limitHits(server.url, "pipelined_request")) >= 1, "none refused yet");
    });
    assert.equal(await openSessions(server.url), sessionsBefore + 1);
  });
});

describe("hand-off backlog", () => {
  it("while a worker takes no sockets, new sessions past its hand-off queue wait, and all are served once it runs again", async () => {
    // The primary's queue of hand-offs. (Where workers accept on the port themselves, a stopped
    // worker's new connections wait in the kernel's listen backlog, as for any server.)
    const server = await startChatServer({
      workers: 1,
      args: ["--max-connections-per-ip", "0"],
      env: { CHAT_SERVER_ACCEPT: "primary" },
    });
    const [worker] = server.workerPids() as [number];
    try {
      // A stopped worker acknowledges no hand-off: the primary queues new sessions for it, and
      // those past the queue's bound wait in its waiting room (bounded too: unit test).
      process.kill(worker, "SIGSTOP");
      const total = MAX_HANDOFFS_IN_FLIGHT + 20;
      const handshake = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: storm\r\n\r\n";
      const connections = await Promise.all(
        Array.from({ length: total }, async () => {
          const c = await rawConnect(server.port);
          c.socket.write(handshake);
          return c;
        }),
      );
      // The first hand-off is written at once, the rest wait for the worker: 19 or 20 wait.
      await eventually(async () => {
        const waiting = (await scrapeMetrics(server.url)).get("chat_waiting_new_sessions") ?? 0;
        assert.ok(waiting >= 19, `${waiting} waiting`);
      });
      process.kill(worker, "SIGCONT");
      // The worker answers every handshake: a session each, none refused.
      const opened = () => connections.filter((c) => /"sid":/.test(c.received()));
      await eventually(() => assert.equal(opened().length, total), 20_000);
      assert.equal(await limitHits(server.url, "handoff_backlog"), 0);
      assert.equal((await scrapeMetrics(server.url)).get("chat_waiting_new_sessions"), 0);
      for (const c of connections) c.socket.destroy();
    } finally {
      try {
        process.kill(worker, "SIGCONT");
      } catch {
        // gone already
      }
      await server.stop();
    }
  });
});
