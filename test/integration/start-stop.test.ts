/**
 * Starting and stopping as an operator sees it: an unsupported Node.js is refused in one line,
 * workers that cannot start make the primary exit non-zero with their reason (so systemd's
 * restart limit applies) instead of replacing them forever, and a clean stop logs no error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { BROKEN_WORKER_REASON } from "../helpers/break-workers.js";
import { type ChatServer, CLI, startChatServer, waitForLog } from "../helpers/chat-server.js";
import {
  closeAll,
  connectAs,
  connectAsOnOtherWorker,
  send,
  uniqueName,
  waitForMessages,
  workerOf,
} from "../helpers/clients.js";
import { startRedis } from "../helpers/redis-server.js";
import { eventually } from "../helpers/wait.js";

const BREAK_WORKERS = pathToFileURL(
  path.join(import.meta.dirname, "..", "helpers", "break-workers.js"),
);
const DEV_MODE_WARNING = /no --auth-secret/;

const scratch = mkdtempSync(path.join(os.tmpdir(), "chat-start-stop-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("starting on an unsupported Node.js", () => {
  it("prints one line naming the version needed and exits 1 before loading anything", () => {
    // What Debian 12's Node 18 reports; the preload only changes the reported version.
    const fake = path.join(scratch, "node-18.cjs");
    writeFileSync(
      fake,
      `Object.defineProperty(process, "version", { value: "v18.19.1" });
Object.defineProperty(process, "versions", { value: { ...process.versions, node: "18.19.1" } });`,
    );
    const result = spawnSync(process.execPath, ["--require", fake, CLI, "start", "--port", "0"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(result.stdout, "", "nothing started, nothing logged");
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? "", /^chat-server: needs Node\.js 20\.11 or later .*v18\.19\.1/);
  });
});

describe("starting and stopping", () => {
  const servers: ChatServer[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    closeAll();
    await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
    await Promise.all(cleanups.splice(0).map((stop) => stop()));
  });

  it("workers that die before they are ever ready: the primary exits 1 with their reason", {
    timeout: 60_000,
  }, async () => {
    const server = await startChatServer({
      workers: 2,
      waitReady: false,
      env: { NODE_OPTIONS: `--import=${BREAK_WORKERS.href}` },
    });
    servers.push(server);
    const [code] = (await once(server.proc, "exit")) as [number | null];
    assert.equal(code, 1, server.output.join("\n"));
    const plain = server.output.filter((line) => !line.startsWith("{"));
    assert.equal(plain.length, 1, `one line on stderr, no stack:\n${plain.join("\n")}`);
    assert.match(plain[0] ?? "", /^chat-server: the workers cannot start: TypeError: /);
    assert.ok(plain[0]?.includes(BROKEN_WORKER_REASON), plain[0]);
    const forks = server.logs().filter((log) => log.msg === "worker could not start; replacing it");
    assert.ok(forks.length < 5, `gave up after a few tries, not ${forks.length}`);
  });

  it("a clean SIGTERM (embedded mode, users on every worker) logs no warning or error", async () => {
    const server = await startChatServer({ workers: 2 });
    servers.push(server);
    await chatOnEveryWorker(server);
    assert.equal(await server.stop("SIGTERM"), 0);
    assertNoProblemLogged(server.output);
  });

  it("multi-host mode: a clean SIGTERM logs no problem, and no log line names `worker` twice", async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const server = await startChatServer({ workers: 2, args: ["--redis", redis.url] });
    servers.push(server);
    await chatOnEveryWorker(server);
    // A worker that dies makes another clear its users' presence in Redis: a log line too.
    const victim = server.workerPids()[0];
    assert.ok(victim);
    process.kill(victim, "SIGKILL");
    await waitForLog(server, (log) => log.msg === "dead worker's users offline", 15_000);
    await eventually(() => assert.equal(server.workerPids().length, 3), 15_000);
    const beforeStop = server.output.length;
    assert.equal(await server.stop("SIGTERM"), 0);
    assertNoProblemLogged(server.output.slice(beforeStop));
    for (const line of server.output) {
      assert.ok((line.match(/"worker":/g) ?? []).length <= 1, `key "worker" twice: ${line}`);
    }
  });
});

/** Two users on different workers send each other a message. */
async function chatOnEveryWorker(server: ChatServer): Promise<void> {
  const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
  const a = await connectAs(server.url, alice, { transport: "websocket" });
  const b = await connectAsOnOtherWorker(server.url, bob, a, { transport: "websocket" });
  assert.notEqual(workerOf(a), workerOf(b), "one user on each worker");
  assert.ok((await send(a, bob, "hello")).ok);
  assert.ok((await send(b, alice, "hi")).ok);
  await waitForMessages(b, (m) => m.some((x) => x.message === "hello"));
  await waitForMessages(a, (m) => m.some((x) => x.message === "hi"));
}

/** No line at warn level or above (but the development-mode warning), and no stray output. */
function assertNoProblemLogged(lines: string[]): void {
  for (const line of lines) {
    assert.ok(line.startsWith("{"), `not a log line (a stack trace?): ${line}`);
    const log = JSON.parse(line) as { level: number; msg: string };
    if (log.level >= 40) assert.match(log.msg, DEV_MODE_WARNING, `problem logged: ${line}`);
  }
}
