/**
 * `npm run bench:store-size`: what a host holds in memory while its embedded database
 * keeps many messages for offline users. Writes 10,000 users x 100 messages (the users are
 * offline: nothing is delivered) straight into a new database the way a worker stores them,
 * starts `chat-server start` on it and on an empty one, and reports the primary's and the
 * workers' resident memory (anonymous, which the process owns, and file-backed, the database
 * pages it touched, which the kernel may drop at any time) next to the size the server reports
 * in /metrics. The primary keeps no inbox of its own, so its memory should not grow with the
 * data.
 *
 *   npm run bench:store-size [-- --users 10000 --per-user 100]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { ChatStore, STORE_FILE } from "../src/store/chat-store.js";
import { INBOX_LIMITS, InboxWriter } from "../src/store/inbox-records.js";
import { freePort } from "./server-process.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const TEXT = "a message of about sixty-four bytes, as chat messages often are.";
const MB = 2 ** 20;

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

/** Stores `perUser` messages for each of `users` offline users, 2,000 per transaction. */
async function fill(directory: string, users: number, perUser: number): Promise<void> {
  const store = new ChatStore({ file: path.join(directory, STORE_FILE), maxBytes: 8 * 1024 ** 3 });
  await store.checkFormat();
  const total = users * perUser;
  const perCommit = 2_000;
  for (let first = 0; first < total; first += perCommit) {
    await store.transaction(() => {
      const inbox = new InboxWriter(store, INBOX_LIMITS);
      const now = Date.now();
      for (let n = first; n < Math.min(total, first + perCommit); n++) {
        const to = `user${n % users}`;
        const from = `sender${n % 97}`;
        inbox.append(to, inbox.nextId(now), [from, to, TEXT, now], false);
      }
      inbox.finish();
    });
  }
  await store.close();
}

interface Memory {
  anonMb: number;
  fileMb: number;
}

/** RssAnon and RssFile of a process, from /proc/<pid>/status. */
function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  return { anonMb: kb("RssAnon") / 1024, fileMb: kb("RssFile") / 1024 };
}

function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text ? text.split(" ").map(Number) : [];
  } catch {
    return [];
  }
}

async function waitReady(url: string, server: ChildProcess): Promise<void> {
  for (let tries = 0; tries < 600; tries++) {
    if (server.exitCode !== null) throw new Error("chat-server exited before it was ready");
    const ready = await fetch(`${url}/readyz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) return;
    await sleep(100);
  }
  throw new Error("chat-server was not ready within a minute");
}

/** One gauge's value from /metrics. */
async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m").exec(text)?.[1] ?? Number.NaN);
}

async function measure(directory: string) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const bin = path.join(REPO_ROOT, "bin", "chat-server");
  const server = spawn(
    process.execPath,
    [bin, "start", "--port", String(port), "--workers", "2", "--data-dir", directory],
    { stdio: "ignore" },
  );
  try {
    await waitReady(url, server);
    // The primary's start-up sweep has run by now; let the last writes and GC settle.
    await sleep(2_000);
    const pid = server.pid ?? 0;
    const workers = childrenOf(pid).map(memoryOf);
    return {
      primary: memoryOf(pid),
      workersAnonMb: workers.reduce((sum, w) => sum + w.anonMb, 0),
      keptMessages: await gauge(url, "chat_store_kept_messages"),
      fileMb: (await gauge(url, "chat_store_file_bytes")) / MB,
    };
  } finally {
    server.kill("SIGTERM");
    await once(server, "exit");
  }
}

async function main(): Promise<void> {
  const users = arg("--users", 10_000);
  const perUser = arg("--per-user", 100);
  console.log(`\nembedded store: memory while holding messages for ${users} offline users`);
  console.log(
    "| data | kept messages (/metrics) | data file (MB) | primary RSS anon (MB) | primary RSS file (MB) | workers RSS anon (MB) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const filled of [false, true]) {
    const directory = mkdtempSync(path.join(os.tmpdir(), "chat-bench-size-"));
    try {
      if (filled) await fill(directory, users, perUser);
      const m = await measure(directory);
      const label = filled ? `${users} users x ${perUser}` : "empty";
      console.log(
        `| ${label} | ${m.keptMessages} | ${m.fileMb.toFixed(0)} | ${m.primary.anonMb.toFixed(1)} | ${m.primary.fileMb.toFixed(1)} | ${m.workersAnonMb.toFixed(1)} |`,
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
}

await main();
