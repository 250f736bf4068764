/**
 * Embedded mode's inboxes live on disk (`--data-dir`): what the server acknowledged is there
 * after a clean stop, a rolling restart, and kill -9 of every process of the host; the directory
 * is held by one server at a time, and a path that cannot be used stops the start plainly.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, statfsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { open } from "lmdb";
import type { NewMessage } from "../../src/protocol.js";
import {
  type ChatServer,
  CLI,
  startChatServer,
  tempDataDir,
  waitForLog,
} from "../helpers/chat-server.js";
import { closeAll, connectAs, send, uniqueName, waitForMessages } from "../helpers/clients.js";
import { eventually, isRunning, waitFor } from "../helpers/wait.js";

const texts = (messages: NewMessage[]) => messages.map((m) => m.message);

describe("embedded storage on disk", () => {
  const servers: ChatServer[] = [];
  afterEach(async () => {
    closeAll();
    await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
  });

  async function start(dataDir: string, workers = 2): Promise<ChatServer> {
    const server = await startChatServer({ workers, dataDir, args: ["--rate-limit", "10000"] });
    servers.push(server);
    return server;
  }

  /** Logs in with `since` the oldest possible id: every kept message of the user, in order. */
  async function everything(url: string, user: string, expected: number): Promise<NewMessage[]> {
    const client = await connectAs(url, user, { since: "0-0", transport: "websocket" });
    return waitForMessages(client, (m) => m.length >= expected);
  }

  it("a stored message survives SIGTERM and a new start; `since` replays across the restart", async () => {
    const dataDir = tempDataDir();
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    let server = await start(dataDir);
    const a = await connectAs(server.url, alice);
    const first = await send(a, bob, "before the restart");
    assert.ok(first.ok && first.status === "stored", JSON.stringify(first));
    a.disconnect();
    assert.equal(await server.stop("SIGTERM"), 0);
    servers.pop();

    server = await start(dataDir);
    const b = await connectAs(server.url, bob);
    const [got] = await waitForMessages(b, (m) => m.length === 1);
    assert.equal(got?.message, "before the restart");
    assert.equal(got?.id, first.ok ? first.id : undefined);
    // Ids keep increasing across restarts, so `since` an id from before still works.
    const a2 = await connectAs(server.url, alice);
    const second = await send(a2, bob, "after the restart");
    assert.ok(second.ok);
    await waitForMessages(b, (m) => texts(m).includes("after the restart"));
    const replay = await connectAs(server.url, bob, { since: first.ok ? first.id : "" });
    const replayed = await waitForMessages(replay, (m) => m.length >= 1);
    assert.deepEqual(texts(replayed), ["after the restart"]);
  });

  it("stored messages survive a SIGHUP rolling restart of every worker", async () => {
    const dataDir = tempDataDir();
    const server = await start(dataDir);
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    const a = await connectAs(server.url, alice, { reconnection: false });
    for (let i = 0; i < 5; i++) assert.ok((await send(a, bob, `m${i}`)).ok);
    a.disconnect();
    server.proc.kill("SIGHUP");
    await waitForLog(server, (log) => log.msg === "rolling restart done", 30_000);
    const b = await connectAs(server.url, bob);
    const got = await waitForMessages(b, (m) => m.length === 5);
    assert.deepEqual(texts(got), ["m0", "m1", "m2", "m3", "m4"]);
  });

  it("kill -9 of every process of the host under traffic loses no acknowledged message, and order per sender holds", async () => {
    const dataDir = tempDataDir();
    const server = await start(dataDir);
    const bob = uniqueName("bob");
    const senders = [uniqueName("s"), uniqueName("s"), uniqueName("s")];
    const clients = await Promise.all(
      senders.map((s) => connectAs(server.url, s, { transport: "websocket", reconnection: false })),
    );
    const acked = new Map<string, string[]>(senders.map((s) => [s, []]));
    let stop = false;
    const loops = clients.map(async (client, i) => {
      const sender = senders[i] as string;
      for (let n = 0; n < 300 && !stop; n++) {
        const answer = await send(client, bob, `${sender}:${n}`).catch(() => undefined);
        if (!answer?.ok) return;
        acked.get(sender)?.push(`${sender}:${n}`);
      }
    });
    await waitFor(
      "20 acknowledged sends per sender",
      () => [...acked.values()].every((list) => list.length >= 20),
      20_000,
    );
    const pids = [server.proc.pid as number, ...server.workerPids()];
    for (const pid of pids) process.kill(pid, "SIGKILL");
    stop = true;
    await Promise.all(loops);
    await waitFor(
      "every process of the host to exit",
      () => pids.every((pid) => !isRunning(pid)),
      10_000,
    );
    servers.pop();
    const total = [...acked.values()].reduce((sum, list) => sum + list.length, 0);
    assert.ok(total >= 60, `only ${total} sends were acknowledged before the kill`);

    const restarted = await start(dataDir);
    const kept = texts(await everything(restarted.url, bob, total));
    for (const [sender, list] of acked) {
      const fromSender = kept.filter((text) => text.startsWith(`${sender}:`));
      // Every acknowledged message is there, in the order sent (a send in flight at the kill
      // may be there too, unacknowledged: it comes after the acknowledged ones).
      assert.deepEqual(fromSender.slice(0, list.length), list, `${sender}'s messages`);
    }
  });

  it("senders far above what the host delivers: every acknowledged message is found by `since`, in order per sender", async () => {
    const server = await start(tempDataDir());
    const bob = uniqueName("bob");
    const receiver = await connectAs(server.url, bob, { transport: "websocket" });
    const senders = Array.from({ length: 6 }, () => uniqueName("flood"));
    const clients = await Promise.all(
      senders.map((s) => connectAs(server.url, s, { transport: "websocket" })),
    );
    // No waiting for acks: each sender fires its whole burst at once.
    const perSender = 150;
    const answers = await Promise.all(
      clients.map((client, i) =>
        Promise.all(
          Array.from({ length: perSender }, (_, n) =>
            send(client, bob, `${senders[i]}:${n}`).then((answer) => ({ answer, n })),
          ),
        ),
      ),
    );
    const acked = answers.map((list) => list.filter(({ answer }) => answer.ok).map(({ n }) => n));
    const total = acked.reduce((sum, list) => sum + list.length, 0);
    assert.equal(total, senders.length * perSender, "every send was acknowledged");
    const live = await waitForMessages(receiver, (m) => m.length >= total, 60_000);
    const replayed = await everything(server.url, bob, total);
    for (const got of [live, replayed]) {
      assert.equal(new Set(got.map((m) => m.id)).size, total, "each message once");
      for (const [i, sender] of senders.entries()) {
        const order = got
          .filter((m) => m.from === sender)
          .map((m) => Number(m.message.split(":")[1]));
        assert.deepEqual(order, acked[i], `${sender} in order`);
      }
    }
  });

  it("a full disk answers UNAVAILABLE and /readyz 503, never a false ok, and recovers by itself", async (t) => {
    const dataDir = tempDataDir();
    // A small file system of its own, so filling it touches nothing else (root can mount one).
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dataDir], {
      encoding: "utf8",
    });
    if (mounted.status !== 0) {
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr.trim()}`);
      return;
    }
    t.after(() => {
      spawnSync("umount", ["-l", dataDir]);
    });
    const server = await start(dataDir, 1);
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    const a = await connectAs(server.url, alice, { transport: "websocket" });
    // Leave the database about 100 KB to grow into.
    const filler = path.join(dataDir, "filler");
    const { bavail, bsize } = statfsSync(dataDir);
    writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - 100 * 1024)));
    const acked: string[] = [];
    let refused = 0;
    for (let i = 0; i < 400 && refused === 0; i++) {
      const answer = await send(a, bob, `${i}:${"z".repeat(3000)}`);
      if (answer.ok) acked.push(`${i}`);
      else if (answer.error.code === "UNAVAILABLE") refused++;
      else assert.fail(`unexpected answer ${JSON.stringify(answer)}`);
    }
    assert.equal(refused, 1, "the disk filled up within 400 messages of 3 KB");
    await eventually(async () => assert.equal((await fetch(`${server.url}/readyz`)).status, 503));

    rmSync(filler);
    await eventually(
      async () => assert.equal((await fetch(`${server.url}/readyz`)).status, 200),
      20_000,
    );
    const after = await send(a, bob, "after: room again");
    assert.ok(after.ok, JSON.stringify(after));
    const kept = (await everything(server.url, bob, acked.length + 1)).map(
      (m) => m.message.split(":")[0],
    );
    assert.deepEqual(kept, [...acked, "after"], "every acknowledged message, nothing else");
  });

  it("a second server on the same data directory is refused with one line naming it", async () => {
    const dataDir = tempDataDir();
    await start(dataDir, 1);
    const result = spawnSync(
      process.execPath,
      [CLI, "start", "--port", "0", "--data-dir", dataDir],
      {
        encoding: "utf8",
        timeout: 20_000,
      },
    );
    assert.notEqual(result.status, 0);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? "", /--data-dir: .* in use by another running chat-server/);
    assert.ok(lines[0]?.includes(path.basename(dataDir)));
  });

  it("a data directory that cannot be used, or was written by a newer version, is refused plainly", async () => {
    const file = path.join(tempDataDir(), "a-file");
    writeFileSync(file, "not a directory");
    const newer = tempDataDir();
    const db = open({ path: path.join(newer, "chat.mdb"), noSubdir: true, maxDbs: 8 });
    await db.openDB({ name: "meta" }).put("format", 99);
    await db.close();
    for (const [dir, reason] of [
      [path.join(file, "data"), /cannot create .*a-file\/data/],
      [newer, /written by a newer chat-server \(format 99/],
    ] as const) {
      const result = spawnSync(process.execPath, [CLI, "start", "--port", "0", "--data-dir", dir], {
        encoding: "utf8",
        timeout: 20_000,
      });
      assert.notEqual(result.status, 0, result.stdout);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? "", reason);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
  });
});
