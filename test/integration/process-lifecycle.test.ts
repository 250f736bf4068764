/**
 * The primary's duties: replace a worker that dies (later and later when it keeps dying), drop
 * the dead worker's users from presence at once (in embedded and in multi-host mode), drain and
 * exit 0 on SIGTERM within the timeout, and refuse bad options plainly.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import {
  type ChatServer,
  CLI,
  startChatServer,
  tempDataDir,
  waitForReady,
} from "../helpers/chat-server.js";
import {
  closeAll,
  connectAs,
  connectAsOnOtherWorker,
  listUsers,
  logIn,
  send,
  uniqueName,
  waitForEvent,
  waitForMessages,
  workerOf,
} from "../helpers/clients.js";
import { startRedis } from "../helpers/redis-server.js";
import { eventually, isRunning } from "../helpers/wait.js";

describe("process lifecycle", () => {
  const servers: ChatServer[] = [];
  const stopAfter: (() => Promise<void>)[] = [];
  afterEach(async () => {
    closeAll();
    await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
    await Promise.all(stopAfter.splice(0).map((stop) => stop()));
  });

  // In multi-host mode the users' presence is in Redis: the primary has a live worker remove the
  // dead one's there, rather than waiting for its heartbeat to expire.
  for (const mode of ["embedded", "multi-host"] as const) {
    it(`kill -9 of a worker (${mode}): its users go offline at once, the primary replaces it, clients reconnect and chat`, async () => {
      let args: string[] = [];
      if (mode === "multi-host") {
        const redis = await startRedis();
        stopAfter.push(() => redis.stop());
        args = ["--redis", redis.url, "--node-id", "lifecycle-host"];
      }
      await killWorkerAndCarryOn(await startChatServer({ workers: 2, args }));
    });
  }

  async function killWorkerAndCarryOn(server: ChatServer): Promise<void> {
    servers.push(server);
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    const a = await connectAs(server.url, alice, { transport: "websocket" });
    const b = await connectAsOnOtherWorker(server.url, bob, a, { transport: "websocket" });
    assert.notEqual(workerOf(a), workerOf(b));

    // The worker holding bob: its pid is in the primary's "worker ready" log line.
    const victimId = Number.parseInt(workerOf(b), 36);
    const victim = server
      .logs()
      .find((log) => log.msg === "worker ready" && log.workerId === victimId)?.workerPid as number;
    assert.ok(victim, "found the worker's pid");
    const dropped = waitForEvent(b, "disconnect");
    process.kill(victim, "SIGKILL");
    await dropped;

    // Presence follows at once: bob is offline and messages to him are stored.
    await eventually(async () => {
      const answer = await listUsers(a);
      assert.ok(answer.ok && !answer.users.includes(bob));
    }, 3000);
    const stored = await send(a, bob, "while you were out");
    assert.ok(stored.ok && stored.status === "stored");

    // The primary forks a replacement; bob's client reconnects by itself and logs in again.
    await eventually(() => assert.equal(server.workerPids().length, 3), 15_000);
    await eventually(() => assert.ok(b.connected, "bob's client reconnected"), 15_000);
    assert.deepEqual(await logIn(b, bob), { ok: true, username: bob });
    await waitForMessages(b, (m) => m.some((x) => x.message === "while you were out"));
    await send(a, bob, "welcome back");
    await waitForMessages(b, (m) => m.some((x) => x.message === "welcome back"));
  }

  it("a worker that keeps dying is replaced after longer and longer pauses, and the server recovers", async () => {
    const server = await startChatServer({ workers: 1 });
    servers.push(server);
    const readyLogs = () => server.logs().filter((log) => log.msg === "worker ready");
    // Three deaths in a row, each soon after its worker became ready (well under the 10 s a
    // worker must live for its death to count as a fresh start).
    for (let death = 1; death <= 3; death++) {
      const pid = readyLogs().at(-1)?.workerPid as number;
      process.kill(pid, "SIGKILL");
      await eventually(() => assert.equal(readyLogs().length, death + 1), 20_000);
    }
    const timeOf = (log: Record<string, unknown>) => Date.parse(String(log.time));
    const deaths = server.logs().filter((log) => log.msg === "worker died; replacing it");
    const backOffs = server.logs().filter((log) => log.msg === "workers keep dying; backing off");
    assert.equal(deaths.length, 3, "each kill was seen as a death");
    assert.deepEqual(
      backOffs.map((log) => log.delayMs),
      [500, 1000, 2000],
      "the pause doubles with each death in a row",
    );
    // A replacement is ready no sooner than its pause: the back-off is real, not only logged.
    const replaced = readyLogs().slice(1);
    const waited = deaths.map((died, i) => timeOf(replaced[i] ?? {}) - timeOf(died));
    for (const [i, ms] of waited.entries()) {
      assert.ok(ms >= (backOffs[i]?.delayMs as number), `replacement ${i + 1} after ${ms} ms`);
    }
    console.log(`worker back-off: replacements ready ${waited.join(", ")} ms after each death`);
    await waitForReady(server.url);
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    const a = await connectAs(server.url, alice, { transport: "websocket" });
    const b = await connectAs(server.url, bob, { transport: "websocket" });
    assert.ok((await send(a, bob, "after the crashes")).ok);
    await waitForMessages(b, (m) => m.some((x) => x.message === "after the crashes"));
  });

  it("SIGTERM: /readyz turns 503, new sessions are refused, clients are told to reconnect, exit 0 in time", async () => {
    const server = await startChatServer({ workers: 2, args: ["--shutdown-timeout", "5"] });
    servers.push(server);
    const a = await connectAs(server.url, uniqueName("leaving"), { transport: "websocket" });
    // A long-polling session that never polls again keeps its worker draining for a while.
    const idle = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(idle.status, 200);
    await idle.arrayBuffer();

    const disconnected = waitForEvent<string>(a, "disconnect");
    const started = Date.now();
    const code = server.stop("SIGTERM");
    // "transport close" is the reason Socket.IO clients reconnect on (unlike a server kick).
    assert.equal(await disconnected, "transport close");
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /draining/);
    const handshake = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(handshake.status, 503);
    assert.equal(await code, 0);
    // Drained, not cut off: neither the shutdown timeout nor a worker kill was needed.
    const cutOff = server
      .logs()
      .filter((log) => /timeout reached|did not drain/.test(String(log.msg)));
    assert.deepEqual(cutOff, [], "the drain finished by itself");
    console.log(
      `# SIGTERM: drained and exited 0 in ${Date.now() - started} ms (--shutdown-timeout 5)`,
    );
  });

  it("--shutdown-timeout cuts off a drain that does not finish: the stuck worker is killed, exit 0", async () => {
    const server = await startChatServer({ workers: 2, args: ["--shutdown-timeout", "2"] });
    servers.push(server);
    const [stuck, other] = server.workerPids() as [number, number];
    // A frozen worker never answers the drain.
    process.kill(stuck, "SIGSTOP");
    const started = Date.now();
    const code = await server.stop("SIGTERM");
    const took = Date.now() - started;
    assert.equal(code, 0);
    assert.ok(
      server.logs().some((log) => log.msg === "worker did not drain in time; killing it"),
      "the stuck worker was cut off",
    );
    await eventually(() => assert.ok(!isRunning(stuck) && !isRunning(other), "workers gone"));
    // It waited for the drain (the timeout less its 500 ms margin) before cutting it off.
    assert.ok(took >= 1400, `cut off after ${took} ms, before the timeout`);
    console.log(`# stuck drain cut off, exit 0 after ${took} ms (--shutdown-timeout 2)`);
  });

  it("a primary killed with -9 leaves its workers' socket directory; the next start removes it", async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), "lifecycle-tmp-"));
    stopAfter.push(async () => rmSync(tmp, { recursive: true, force: true }));
    const peerDirectories = () => readdirSync(tmp).filter((n) => n.startsWith("chat-server-"));
    const first = await startChatServer({ workers: 2, env: { TMPDIR: tmp } });
    const [left] = peerDirectories();
    assert.match(left ?? "", new RegExp(`^chat-server-${first.proc.pid}-`));
    await first.stop("SIGKILL");
    // Its workers follow it out (they exit when the primary's channel closes).
    await eventually(() => assert.ok(first.workerPids().every((pid) => !isRunning(pid))));
    assert.deepEqual(peerDirectories(), [left], "a killed primary cannot clean up");

    // A directory whose pid is gone here but whose worker still answers (another pid namespace
    // sharing /tmp, say) is not stale: it stays.
    const goneHere = spawnSync(process.execPath, ["-e", ""]).pid;
    const foreign = path.join(tmp, `chat-server-${goneHere}-other`);
    mkdirSync(foreign);
    const listener = net.createServer().listen(path.join(foreign, "1.sock"));
    await once(listener, "listening");
    stopAfter.push(() => new Promise((resolve) => listener.close(() => resolve())));

    const second = await startChatServer({ workers: 2, env: { TMPDIR: tmp } });
    servers.push(second);
    const now = peerDirectories().filter((name) => name !== path.basename(foreign));
    assert.equal(now.length, 1);
    assert.match(now[0] ?? "", new RegExp(`^chat-server-${second.proc.pid}-`));
    assert.ok(existsSync(foreign), "a directory with a live worker socket was removed");
    assert.equal(await second.stop("SIGTERM"), 0);
    assert.deepEqual(peerDirectories(), [path.basename(foreign)], "a clean stop removes its own");
  });

  it("SIGINT drains and exits 0 too", async () => {
    const server = await startChatServer({ workers: 1 });
    servers.push(server);
    assert.equal(await server.stop("SIGINT"), 0);
  });

  it("/readyz answers 503 while no worker is ready, /healthz 200 meanwhile", async () => {
    const server = await startChatServer({ workers: 2, waitReady: false });
    servers.push(server);
    // The primary listens before its workers are up; poll until ready, checking every answer.
    const seen = new Set<number>();
    await eventually(async () => {
      const res = await fetch(`${server.url}/readyz`);
      seen.add(res.status);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      assert.equal(res.status, 200);
    }, 20_000);
    // Workers take a few hundred ms to load; the primary answered from its first moment.
    assert.ok(seen.has(503), "503 while the workers were starting");
    assert.ok([...seen].every((status) => status === 200 || status === 503));
    await waitForReady(server.url);
  });

  const badCommands: [string, string[], RegExp][] = [
    ["a port that is not a number", ["start", "--port", "eighty"], /--port/],
    ["a port out of range", ["start", "--port", "70000"], /--port/],
    ["zero workers", ["start", "--workers", "0"], /--workers/],
    ["an unknown option", ["start", "--colour", "blue"], /unknown option '--colour'/],
    ["an unknown command", ["serve"], /unknown command 'serve'/],
    ["a bad log level", ["start", "--log-level", "loud"], /--log-level/],
    ["a bad Redis address", ["start", "--redis", "host:notaport"], /--redis/],
    [
      "an unreachable Redis",
      ["start", "--port", "0", "--redis", "127.0.0.1:1"],
      /^chat-server: --redis: cannot reach Redis at 127\.0\.0\.1:1: /,
    ],
  ];
  for (const [what, args, pattern] of badCommands) {
    it(`CLI: ${what} gives one line naming it and a non-zero exit`, () => {
      const result = spawnSync(process.execPath, [CLI, ...args], {
        encoding: "utf8",
        timeout: 10_000,
        // Its own default data directory (./chat-data), not the checkout's that others may hold.
        cwd: tempDataDir(),
      });
      assert.notEqual(result.status, 0);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
      assert.match(lines[0] ?? "", pattern);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    });
  }

  it("CLI: a port already in use is one plain line and a non-zero exit", async () => {
    const server = await startChatServer({ workers: 1 });
    servers.push(server);
    const result = spawnSync(
      process.execPath,
      [CLI, "start", "--port", String(server.port), "--host", "127.0.0.1"],
      { encoding: "utf8", timeout: 10_000, cwd: tempDataDir() },
    );
    assert.notEqual(result.status, 0);
    assert.match(
      result.stderr.trim(),
      /^chat-server: --port\/--host: cannot listen on 127\.0\.0\.1:\d+: the port is in use$/,
    );
  });

  it("CLI: --help and --version", () => {
    const help = spawnSync(process.execPath, [CLI, "start", "--help"], { encoding: "utf8" });
    assert.equal(help.status, 0);
    for (const option of [
      "--port",
      "--workers",
      "--redis",
      "--max-message-bytes",
      "--rate-limit",
    ]) {
      assert.ok(help.stdout.includes(option), `help lists ${option}`);
    }
    const version = spawnSync(process.execPath, [CLI, "--version"], { encoding: "utf8" });
    assert.equal(version.status, 0);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });
});
