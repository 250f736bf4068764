/**
 * `npm run bench:store`: how many messages one worker commits per second into the embedded
 * store, the way a worker does it (the sends of one event-loop turn in one transaction, both
 * inboxes written, the recipient's presence read), alone and with a second writer process on the
 * same database; and what waiting for the disk flush (`--sync-acks`) costs. Each writer is a
 * separate process, as workers are.
 *
 *   npm run bench:store [-- --messages 100000 --batch 64]
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ChatStore } from "../src/store/chat-store.js";
import { INBOX_LIMITS, InboxWriter } from "../src/store/inbox-records.js";
import { workersOf } from "../src/store/presence-records.js";

interface WriterResult {
  messages: number;
  seconds: number;
  cpuUs: number;
  /** Bytes this process handed to write calls (LMDB writes whole pages): a repeatable figure. */
  writtenBytes: number;
}

/** Bytes written by this process so far (`wchar` of /proc/self/io; 0 where there is none). */
function bytesWritten(): number {
  try {
    return Number(/^wchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const TEXT = "a message of about sixty-four bytes, as chat messages often are.";

/** One writer process: `messages` sends in batches of `batch`, `inFlight` batches at a time. */
async function writer(file: string, messages: number, batch: number, sync: boolean) {
  const store = new ChatStore({ file, maxBytes: 8 * 1024 ** 3 });
  const users = 10_000;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const writtenBefore = bytesWritten();
  let sent = 0;
  const inFlight: Promise<unknown>[] = [];
  while (sent < messages) {
    const count = Math.min(batch, messages - sent);
    const first = sent;
    sent += count;
    const committed = store.transaction(() => {
      const inbox = new InboxWriter(store, INBOX_LIMITS);
      const now = Date.now();
      for (let i = 0; i < count; i++) {
        const n = first + i;
        const from = `u${(n * 7919) % users}`;
        const to = `u${(n * 104729 + 1) % users}`;
        const id = inbox.nextId(now);
        const online = workersOf(store.presence, to).length > 0;
        inbox.append(to, id, [from, to, TEXT, now], online);
        inbox.append(from, id, [from, to, TEXT, now, "session-id-0123"], true);
      }
      inbox.finish();
    });
    inFlight.push(sync ? committed.then(() => store.flushed()) : committed);
    // A worker's next turn starts while the last commit is on its way: keep a few in flight.
    if (inFlight.length >= 4) await inFlight.shift();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(inFlight);
  const cpu = process.cpuUsage(cpuBefore);
  const result: WriterResult = {
    messages,
    seconds: (performance.now() - started) / 1000,
    cpuUs: cpu.user + cpu.system,
    writtenBytes: bytesWritten() - writtenBefore,
  };
  await store.close();
  return result;
}

async function runWriters(processes: number, messages: number, batch: number, sync: boolean) {
  const directory = mkdtempSync(path.join(os.tmpdir(), "chat-bench-store-"));
  const file = path.join(directory, "chat.mdb");
  try {
    const self = fileURLToPath(import.meta.url);
    const children = Array.from({ length: processes }, () =>
      spawn(
        process.execPath,
        [self, "--writer", file, String(messages), String(batch), String(sync)],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      ),
    );
    const outputs = await Promise.all(
      children.map(async (child) => {
        let text = "";
        child.stdout?.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        const [code] = (await once(child, "exit")) as [number | null];
        if (code !== 0) throw new Error(`writer exited with ${code}`);
        return JSON.parse(text) as WriterResult;
      }),
    );
    return outputs;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

async function main(): Promise<void> {
  if (process.argv[2] === "--writer") {
    const [, , , file, messages, batch, sync] = process.argv;
    const result = await writer(file ?? "", Number(messages), Number(batch), sync === "true");
    process.stdout.write(JSON.stringify(result));
    return;
  }
  const messages = arg("--messages", 100_000);
  const batch = arg("--batch", 64);
  console.log(`embedded store: ${messages} messages per writer, ${batch} per transaction`);
  console.log(
    "| writers | acks after | messages/s per writer | CPU per message (us) | written per message (KB) |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  for (const [processes, sync] of [
    [1, false],
    [2, false],
    [1, true],
  ] as const) {
    const results = await runWriters(
      processes,
      sync ? Math.ceil(messages / 4) : messages,
      batch,
      sync,
    );
    const rate = results.reduce((sum, r) => sum + r.messages / r.seconds, 0) / results.length;
    const cpu = results.reduce((sum, r) => sum + r.cpuUs / r.messages, 0) / results.length;
    const written =
      results.reduce((sum, r) => sum + r.writtenBytes / r.messages, 0) / results.length / 1024;
    console.log(
      `| ${processes} | ${sync ? "flush (--sync-acks)" : "commit (default)"} | ${Math.round(rate)} | ${cpu.toFixed(1)} | ${written.toFixed(1)} |`,
    );
  }
}

await main();
