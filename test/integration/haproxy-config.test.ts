/**
 * The top-level haproxy.cfg, run for real in front of two stand-in hosts: plain node:http
 * servers that answer /readyz, mimic the Engine.IO polling handshake and a WebSocket upgrade,
 * and say which host answered. (The test is about HAProxy's configuration, not chat; chat-server
 * itself behind HAProxy is covered by haproxy-chat.test.ts.)
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { startChatServer } from "../helpers/chat-server.js";
import {
  checkHaproxyConfig,
  HAPROXY_CFG,
  type Haproxy,
  haproxyEnv,
  haproxyUnavailable,
  serverStatus,
  startHaproxy,
  waitForServerStatus,
} from "../helpers/haproxy.js";

/** How fast a host whose /readyz fails must be taken out (inter 1s, fall 2, plus slack). */
const DETECT_MS = 5_000;

class StandIn {
  ready = true;
  /** Answer every request 503 (a draining chat-server refusing new sessions). */
  refusing = false;
  readonly sids = new Set<string>();
  private readonly server: http.Server;
  private readonly tunnels = new Set<net.Socket>();

  /** `port` 0: one the OS chooses, read back by `start`. */
  constructor(
    readonly name: string,
    public port = 0,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket) =>
      this.upgrade(req, socket),
    );
  }

  /** Listens; on a fixed port that is taken for a moment (a restart), tries again. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          this.server.once("error", reject);
          this.server.listen(this.port, "127.0.0.1", () => {
            this.server.off("error", reject);
            resolve();
          });
        });
        this.port = (this.server.address() as net.AddressInfo).port;
        return;
      } catch (error) {
        const taken = (error as NodeJS.ErrnoException).code === "EADDRINUSE";
        if (!taken || this.port === 0 || attempt >= 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  async stop(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    await closed;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://stand-in");
    res.setHeader("x-backend", this.name);
    if (url.pathname === "/readyz") {
      res.statusCode = this.ready ? 200 : 503;
      res.end(this.ready ? "ready" : "draining");
      return;
    }
    if (this.refusing) {
      res.statusCode = 503;
      res.setHeader("retry-after", "1");
      res.end("draining");
      return;
    }
    const sid = url.searchParams.get("sid");
    if (url.pathname === "/socket.io/" && url.searchParams.get("transport") === "polling" && !sid) {
      // An Engine.IO v4 open packet. The headers go out first and the body a moment later, so
      // HAProxy must wait for the body to learn the sid.
      const id = randomBytes(15).toString("base64url");
      this.sids.add(id);
      res.setHeader("content-type", "text/plain; charset=UTF-8");
      res.flushHeaders();
      const open = { sid: id, upgrades: ["websocket"], pingInterval: 25000, pingTimeout: 20000 };
      setTimeout(() => res.end(`0${JSON.stringify({ ...open, maxPayload: 1000000 })}`), 20);
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        backend: this.name,
        sidKnown: sid === null ? null : this.sids.has(sid),
        cookie: req.headers.cookie ?? null,
        forwardedFor: req.headers["x-forwarded-for"] ?? null,
      }),
    );
  }

  /** Accepts any WebSocket upgrade and then echoes the bytes it gets. */
  private upgrade(req: http.IncomingMessage, socket: net.Socket): void {
    const key = String(req.headers["sec-websocket-key"] ?? "");
    const accept = createHash("sha1")
      .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    const sid = new URL(req.url ?? "/", "http://stand-in").searchParams.get("sid");
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\nX-Backend: ${this.name}\r\n` +
        `X-Sid-Known: ${sid === null ? "none" : this.sids.has(sid)}\r\n\r\n`,
    );
    this.tunnels.add(socket);
    socket.on("close", () => this.tunnels.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.on("data", (data) => socket.write(data));
    // http.Server sockets allow half-open: close ours when the client closes, or HAProxy keeps
    // counting the tunnel against this host (leastconn) until its server-fin timeout.
    socket.on("end", () => socket.end());
  }
}

interface Answer {
  status: number;
  backend: string | null;
  setCookie: string | null;
  body: string;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { headers });
  return {
    status: res.status,
    backend: res.headers.get("x-backend"),
    setCookie: res.headers.get("set-cookie"),
    body: await res.text(),
  };
}

/** An Engine.IO polling handshake through HAProxy, with no cookie: the sid and who gave it. */
async function handshake(url: string): Promise<{ sid: string; backend: string }> {
  const answer = await get(`${url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(answer.status, 200, answer.body);
  assert.ok(answer.body.startsWith("0{"), answer.body);
  const { sid } = JSON.parse(answer.body.slice(1)) as { sid: string };
  assert.ok(answer.backend);
  return { sid, backend: answer.backend };
}

async function poll(url: string, sid: string, headers: Record<string, string> = {}) {
  const answer = await get(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, headers);
  assert.equal(answer.status, 200, answer.body);
  return JSON.parse(answer.body) as { backend: string; sidKnown: boolean; cookie: string | null };
}

/** A raw WebSocket upgrade through HAProxy; resolves with the answer's head and an echo check. */
async function websocketUpgrade(
  port: number,
  path: string,
): Promise<{ head: string; echo: string }> {
  const socket = net.connect(port, "127.0.0.1");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n\r\n`,
    );
    let received = "";
    const readUntil = (predicate: (text: string) => boolean) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (predicate(received)) {
            socket.off("data", onData);
            resolve();
          }
        };
        const onData = (chunk: Buffer) => {
          received += chunk.toString("latin1");
          check();
        };
        socket.on("data", onData);
        socket.once("close", () => reject(new Error(`closed; got: ${received}`)));
        check();
      });
    await readUntil((text) => text.includes("\r\n\r\n"));
    const end = received.indexOf("\r\n\r\n") + 4;
    const head = received.slice(0, end);
    received = received.slice(end);
    socket.write("ping-through-tunnel");
    await readUntil((text) => text.includes("ping-through-tunnel"));
    return { head, echo: received };
  } finally {
    socket.destroy();
  }
}

function headerValue(head: string, name: string): string | undefined {
  const match = new RegExp(`^${name}: *(.*)$`, "im").exec(head);
  return match?.[1]?.trim();
}

describe("haproxy.cfg", { skip: haproxyUnavailable }, () => {
  it("passes haproxy -c with the default addresses, without warnings", () => {
    const env = {
      CHAT_LISTEN: undefined,
      CHAT_BACKEND_1: undefined,
      CHAT_BACKEND_2: undefined,
      CHAT_STATS: undefined,
    };
    const { status, output } = checkHaproxyConfig(env);
    assert.equal(status, 0, output);
    assert.match(output, /Configuration file is valid/);
    assert.doesNotMatch(output, /\[(WARNING|ALERT)\]/, output);
  });

  it("passes haproxy -c with every address from the environment", () => {
    const env = haproxyEnv({ listen: 18080, stats: 18404, backends: [18081, 18082] });
    const { status, output } = checkHaproxyConfig(env);
    assert.equal(status, 0, output);
    assert.doesNotMatch(output, /\[(WARNING|ALERT)\]/, output);
  });

  it("fails haproxy -c when an address is not one", () => {
    const { status } = checkHaproxyConfig({ CHAT_BACKEND_1: "not an address:99999" });
    assert.notEqual(status, 0);
  });
});

describe("haproxy.cfg in front of two hosts", { skip: haproxyUnavailable }, () => {
  let haproxy: Haproxy;
  let one: StandIn;
  let two: StandIn;

  before(async () => {
    one = new StandIn("one");
    two = new StandIn("two");
    await one.start();
    await two.start();
    // Ports the OS chose, then given to HAProxy: no other process can take them.
    haproxy = await startHaproxy({ backends: [one.port, two.port] });
    await waitForServerStatus(haproxy.statsUrl, "chat1", "UP");
    await waitForServerStatus(haproxy.statsUrl, "chat2", "UP");
  });

  after(async () => {
    await haproxy?.stop();
    await one?.stop().catch(() => {});
    await two?.stop().catch(() => {});
  });

  it("derives its connection limit from a 20,000 open-file limit", async () => {
    const metrics = await (await fetch(`${haproxy.statsUrl}/metrics`)).text();
    const maxconn = Number(/^haproxy_process_max_connections (\d+)/m.exec(metrics)?.[1]);
    const maxfds = Number(/^haproxy_process_max_fds (\d+)/m.exec(metrics)?.[1]);
    assert.ok(maxfds <= 20_000, `max fds ${maxfds}`);
    // Two descriptors per proxied connection, and some to spare.
    assert.ok(maxconn > 0 && maxconn * 2 <= maxfds, `maxconn ${maxconn}, fds ${maxfds}`);
  });

  it("spreads new clients over both hosts", async () => {
    const seen = new Set<string | null>();
    for (let i = 0; i < 10; i++) {
      const answer = await get(`${haproxy.url}/anything`);
      assert.equal(answer.status, 200);
      seen.add(answer.backend);
    }
    assert.deepEqual([...seen].sort(), ["one", "two"]);
  });

  it("passes the client's address in X-Forwarded-For", async () => {
    const answer = JSON.parse((await get(`${haproxy.url}/anything`)).body) as {
      forwardedFor: string;
    };
    assert.equal(answer.forwardedFor, "127.0.0.1");
  });

  it("keeps a client that repeats the SERVERID cookie on one host, and hides the cookie", async () => {
    const first = await get(`${haproxy.url}/anything`);
    const cookie = /^(SERVERID=chat[12]);/.exec(first.setCookie ?? "")?.[1];
    assert.ok(cookie, `no SERVERID cookie in ${first.setCookie}`);
    assert.match(first.setCookie ?? "", /HttpOnly/i);
    for (let i = 0; i < 10; i++) {
      const answer = await get(`${haproxy.url}/anything`, { cookie });
      assert.equal(answer.backend, first.backend);
      assert.equal(JSON.parse(answer.body).cookie, null, "SERVERID must not reach the host");
    }
  });

  it("keeps a cookie-less polling client on the host that issued its sid", async () => {
    const issuers = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const { sid, backend } = await handshake(haproxy.url);
      issuers.add(backend);
      for (let j = 0; j < 5; j++) {
        const answer = await poll(haproxy.url, sid);
        assert.equal(answer.backend, backend, `poll ${j} of session ${i}`);
        assert.equal(answer.sidKnown, true);
      }
    }
    assert.deepEqual([...issuers].sort(), ["one", "two"], "handshakes should be balanced too");
  });

  it("passes a WebSocket upgrade through, to the host of the sid when there is one", async () => {
    const port = Number(new URL(haproxy.url).port);
    const fresh = await websocketUpgrade(port, "/socket.io/?EIO=4&transport=websocket");
    assert.match(fresh.head, /^HTTP\/1\.1 101 /);
    assert.match(headerValue(fresh.head, "x-backend") ?? "", /^(one|two)$/);
    assert.equal(fresh.echo, "ping-through-tunnel");

    for (let i = 0; i < 4; i++) {
      const { sid, backend } = await handshake(haproxy.url);
      const upgraded = await websocketUpgrade(
        port,
        `/socket.io/?EIO=4&transport=websocket&sid=${sid}`,
      );
      assert.match(upgraded.head, /^HTTP\/1\.1 101 /);
      assert.equal(headerValue(upgraded.head, "x-backend"), backend);
      assert.equal(headerValue(upgraded.head, "x-sid-known"), "true");
    }
  });

  it("retries a draining host's 503s elsewhere, stops routing to it, and takes it back", async () => {
    const cookieOfOne = "SERVERID=chat1";
    let sidOfOne: string | undefined;
    while (!sidOfOne) {
      const { sid, backend } = await handshake(haproxy.url);
      if (backend === "one") sidOfOne = sid;
    }
    one.ready = false;
    one.refusing = true;
    // Before a health check notices, the host's 503s are retried on the other host.
    for (let i = 0; i < 10; i++) {
      const answer = await get(`${haproxy.url}/anything`);
      assert.equal(answer.status, 200);
      assert.equal(answer.backend, "two");
    }
    assert.equal((await handshake(haproxy.url)).backend, "two");
    const tookMs = await waitForServerStatus(haproxy.statsUrl, "chat1", "DOWN", DETECT_MS);
    console.log(`# chat1 marked DOWN ${tookMs} ms after /readyz turned 503`);
    for (let i = 0; i < 10; i++) {
      const answer = await get(`${haproxy.url}/anything`);
      assert.equal(answer.status, 200);
      assert.equal(answer.backend, "two");
    }
    assert.equal((await get(`${haproxy.url}/anything`, { cookie: cookieOfOne })).backend, "two");
    // The other host does not know the session: a Socket.IO client handshakes again there.
    assert.deepEqual(await poll(haproxy.url, sidOfOne), {
      backend: "two",
      sidKnown: false,
      cookie: null,
      forwardedFor: "127.0.0.1",
    });

    one.ready = true;
    one.refusing = false;
    await waitForServerStatus(haproxy.statsUrl, "chat1", "UP", DETECT_MS);
    const seen = new Set<string | null>();
    for (let i = 0; i < 10; i++) seen.add((await get(`${haproxy.url}/anything`)).backend);
    assert.deepEqual([...seen].sort(), ["one", "two"]);
  });

  it("fails over at once when a host stops, then marks it down and back up", async () => {
    await two.stop();
    // Before any health check notices: refused connections are retried on the other host.
    for (let i = 0; i < 10; i++) {
      const answer = await get(`${haproxy.url}/anything`);
      assert.equal(answer.status, 200);
      assert.equal(answer.backend, "one");
    }
    const tookMs = await waitForServerStatus(haproxy.statsUrl, "chat2", "DOWN", DETECT_MS);
    console.log(`# chat2 marked DOWN ${tookMs} ms after it stopped`);
    assert.equal(
      (await get(`${haproxy.url}/anything`, { cookie: "SERVERID=chat2" })).backend,
      "one",
    );

    two = new StandIn("two", two.port);
    await two.start();
    await waitForServerStatus(haproxy.statsUrl, "chat2", "UP", DETECT_MS);
    assert.equal(await serverStatus(haproxy.statsUrl, "chat1"), "UP");
    assert.equal(
      (await get(`${haproxy.url}/anything`, { cookie: "SERVERID=chat2" })).backend,
      "two",
    );
  });
});

/** HAProxy's time format: a number with an optional unit (ms by default). */
function haproxyMs(value: string): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(value);
  assert.ok(match, `cannot read the HAProxy time "${value}"`);
  const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Number(match[1]) * unit[(match[2] ?? "ms") as keyof typeof unit];
}

describe("haproxy.cfg timeouts against Socket.IO's heartbeat", () => {
  it("WebSocket (tunnel) and long-polling (client, server) timeouts exceed ping interval + ping timeout", async () => {
    // What the server announces in its handshake, not a number copied here.
    const server = await startChatServer({ workers: 1 });
    try {
      const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
      const open = JSON.parse((await res.text()).slice(1)) as {
        pingInterval: number;
        pingTimeout: number;
      };
      const heartbeat = open.pingInterval + open.pingTimeout;
      assert.ok(heartbeat > 0);
      const config = readFileSync(HAPROXY_CFG, "utf8");
      for (const name of ["tunnel", "client", "server"]) {
        const values = [...config.matchAll(new RegExp(`^\\s*timeout ${name}\\s+(\\S+)`, "gm"))].map(
          (m) => m[1] as string,
        );
        assert.ok(values.length > 0, `haproxy.cfg sets no "timeout ${name}"`);
        for (const value of values) {
          assert.ok(
            haproxyMs(value) > heartbeat,
            `timeout ${name} ${value} is not longer than ping interval + timeout (${heartbeat} ms)`,
          );
        }
      }
    } finally {
      await server.stop();
    }
  });
});
