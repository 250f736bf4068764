/**
 * CONTRACT.md section 1: each `start` option's environment variable is read (PORT, HOST,
 * WORKERS, LOG_LEVEL, REDIS_URL, REDIS_PREFIX, NODE_ID, CHAT_AUTH_SECRET, REDIS_SENTINELS,
 * REDIS_MASTER, REDIS_CLUSTER, CHAT_DATA_DIR), and the defaults of --port, --host and --workers
 * hold. Each
 * server is started with nothing on its command line but `start`, and read back from its
 * "listening" log line, its behaviour and Redis.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { CLI, waitForReady } from "../helpers/chat-server.js";
import { closeAll, connect, emitAck, logIn, waitForEvent } from "../helpers/clients.js";
import { killOnExit, stopWithin } from "../helpers/processes.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { type RedisProcess, startRedis } from "../helpers/redis-server.js";
import { eventually, within } from "../helpers/wait.js";

const SECRET = "an-environment-secret-of-32-bytes!";
/** The environment without any of the variables the CLI reads, so only a test's own count. */
const CLEAN_ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([name]) =>
      !/^(PORT|HOST|WORKERS|LOG_LEVEL|NODE_ID|CORS_ORIGIN|MAX_CONNECTIONS_PER_IP|CHAT_.*|REDIS_.*)$/.test(
        name,
      ),
  ),
);

const scratchDirs: string[] = [];
/** A fresh working directory for one server, removed after the file's tests. */
function scratch(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "chat-cli-env-"));
  scratchDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

interface Started {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string;
  /** The "listening" log line, or undefined when the process exited first. */
  listening?: Record<string, unknown>;
}

/** `chat-server start` and nothing else on its command line; resolves at "listening" or exit. */
async function startFromEnvironment(env: NodeJS.ProcessEnv): Promise<Started> {
  const proc = spawn(process.execPath, [CLI, "start"], {
    env: { ...CLEAN_ENV, ...env },
    // The default --data-dir is ./chat-data: somewhere else than the checkout.
    cwd: scratch(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnExit(proc);
  const started: Started = { proc, lines: [], stderr: "" };
  proc.stderr?.on("data", (chunk: Buffer) => {
    started.stderr += chunk.toString("utf8");
  });
  await within(
    60_000,
    "chat-server to listen or exit",
    new Promise<void>((resolve) => {
      let buffered = "";
      proc.stdout?.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.startsWith("{")) continue;
          const log = JSON.parse(line) as Record<string, unknown>;
          started.lines.push(log);
          if (log.msg === "listening") {
            started.listening = log;
            resolve();
          }
        }
      });
      proc.once("exit", () => resolve());
    }),
  );
  return started;
}

describe("options from the environment", () => {
  const running: Started[] = [];
  const redises: RedisProcess[] = [];
  after(async () => {
    closeAll();
    for (const started of running) await stopWithin(started.proc, "SIGTERM", 30_000);
    for (const redis of redises) await redis.stop();
  });

  it("PORT, HOST, WORKERS, REDIS_URL, REDIS_PREFIX, NODE_ID and CHAT_AUTH_SECRET are read", async () => {
    const redis = await startRedis();
    redises.push(redis);
    const prefix = randomPrefix();
    const server = await startFromEnvironment({
      PORT: "0",
      HOST: "127.0.0.1",
      WORKERS: "1",
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      NODE_ID: "from-the-environment",
      CHAT_AUTH_SECRET: SECRET,
    });
    running.push(server);
    assert.ok(server.listening, `did not start:\n${server.stderr}`);
    const { host, port, workers, mode } = server.listening;
    assert.deepEqual({ host, workers, mode }, { host: "127.0.0.1", workers: 1, mode: "redis" });
    assert.ok(typeof port === "number" && port > 0, "PORT=0: a port the OS chose");
    const url = `http://127.0.0.1:${port}`;
    await waitForReady(url, 60_000);
    // CHAT_AUTH_SECRET: a log in without a token is refused.
    const anonymous = connect(url);
    const refused = await logIn(anonymous, "nobody");
    assert.equal(!refused.ok && refused.error.code, "UNAUTHORIZED");
    // REDIS_PREFIX and NODE_ID: the session is in Redis under that prefix, held by that node.
    const { signTestToken } = await import("../helpers/tokens.js");
    const user = connect(url);
    const answer = await logIn(user, "envuser", { token: await signTestToken(SECRET, "envuser") });
    assert.ok(answer.ok, JSON.stringify(answer));
    const probe = new Redis({ host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: 1 });
    try {
      const holders = await eventually(async () => {
        const fields = await probe.hkeys(`${prefix}:presence:{envuser}`);
        assert.ok(fields.length > 0, "no presence under the prefix");
        return fields;
      });
      assert.ok(
        holders.every((field) => field.startsWith("from-the-environment")),
        `presence held by ${holders.join(", ")}`,
      );
    } finally {
      probe.disconnect();
    }
  });

  it("CHAT_DATA_DIR: the inboxes are kept there, and found there after a restart", async () => {
    const dataDir = path.join(scratch(), "inboxes-from-the-environment");
    const env = { PORT: "0", WORKERS: "1", CHAT_DATA_DIR: dataDir };
    let server = await startFromEnvironment(env);
    running.push(server);
    assert.ok(server.listening, `did not start:\n${server.stderr}`);
    let url = `http://127.0.0.1:${server.listening.port}`;
    await waitForReady(url, 60_000);
    const sender = connect(url);
    assert.ok((await logIn(sender, "envsender")).ok);
    const stored = await emitAck<{ ok: boolean; status?: string }>(sender, "send message", {
      username: "envreader",
      message: "kept in CHAT_DATA_DIR",
    });
    assert.ok(stored.ok && stored.status === "stored", JSON.stringify(stored));
    assert.ok(readdirSync(dataDir).length > 0, "nothing written to CHAT_DATA_DIR");
    closeAll();
    assert.equal(await stopWithin(server.proc, "SIGTERM", 30_000), 0);
    // Started again from another working directory: the message can only come from dataDir.
    server = await startFromEnvironment(env);
    running.push(server);
    assert.ok(server.listening, `did not start again:\n${server.stderr}`);
    url = `http://127.0.0.1:${server.listening.port}`;
    await waitForReady(url, 60_000);
    const reader = connect(url);
    const got = waitForEvent<{ message: string }>(reader, "new message");
    assert.ok((await logIn(reader, "envreader")).ok);
    assert.equal((await got).message, "kept in CHAT_DATA_DIR");
  });

  // A value the CLI refuses, or an address it cannot reach, is named as the option it sets.
  const refused: [string, NodeJS.ProcessEnv, RegExp][] = [
    ["PORT", { PORT: "eighty" }, /--port\b.*'PORT'/],
    ["WORKERS", { WORKERS: "0" }, /--workers\b.*'WORKERS'/],
    ["LOG_LEVEL", { LOG_LEVEL: "loud" }, /--log-level\b.*'LOG_LEVEL'/],
    ["REDIS_URL", { REDIS_URL: "host:notaport" }, /--redis\b.*'REDIS_URL'/],
    [
      "REDIS_SENTINELS and REDIS_MASTER (unreachable at start-up)",
      { REDIS_SENTINELS: "127.0.0.1:1", REDIS_MASTER: "not-mymaster" },
      /^chat-server: --redis-sentinels: cannot reach .*127\.0\.0\.1:1.*"not-mymaster"/,
    ],
    // (Unreachable seeds take the 10 s start-up timeout: multi-host-cluster.test.ts has that.)
    [
      "REDIS_CLUSTER",
      { REDIS_CLUSTER: "127.0.0.1:notaport" },
      /--redis-cluster\b.*'REDIS_CLUSTER'/,
    ],
  ];
  for (const [names, env, pattern] of refused) {
    it(`${names}: what it sets is checked, one line naming the option, exit non-zero`, () => {
      const result = spawnSync(process.execPath, [CLI, "start"], {
        cwd: scratch(),
        env: { ...CLEAN_ENV, PORT: "0", ...env },
        encoding: "utf8",
        timeout: 30_000,
      });
      assert.notEqual(result.status, 0);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
      assert.match(lines[0] ?? "", pattern);
    });
  }
});

describe("defaults of --port, --host and --workers", () => {
  /**
   * Starts with no options: listens on the default port, or says that port is in use (another
   * program on this machine may hold 3000); either way the line names the address it chose.
   */
  async function defaults(env: NodeJS.ProcessEnv): Promise<{ address: string; workers?: unknown }> {
    const started = await startFromEnvironment(env);
    try {
      if (started.listening) {
        const { host, port, workers } = started.listening;
        return { address: `${host}:${port}`, workers };
      }
      const [, address] = /cannot listen on (\S+): /.exec(started.stderr) ?? [];
      assert.ok(address, `neither listening nor a port-in-use line:\n${started.stderr}`);
      return { address };
    } finally {
      await stopWithin(started.proc, "SIGTERM", 30_000);
    }
  }

  it("port 3000, one worker per core", async () => {
    const { address, workers } = await defaults({});
    assert.match(address, /:3000$/);
    if (workers !== undefined) assert.equal(workers, os.availableParallelism());
  });

  it("host 127.0.0.1 without a secret, 0.0.0.0 with one (CHAT_AUTH_SECRET)", async () => {
    assert.equal((await defaults({})).address, "127.0.0.1:3000");
    assert.equal((await defaults({ CHAT_AUTH_SECRET: SECRET })).address, "0.0.0.0:3000");
  });
});
