/**
 * Embedded mode's data directory under limits and faults: a full disk, the `--max-data-mb` cap,
 * a second server on the same directory, a path that cannot be used, data of a newer version.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, statfsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { open } from "lmdb";
import { CLI, startChatServer, tempDataDir } from "../helpers/chat-server.js";
import {
  connectAs,
  replayEverything,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { embeddedServersPerTest } from "../helpers/embedded-servers.js";
import { eventually } from "../helpers/wait.js";

describe("embedded storage: limits and faults", () => {
  const { servers, start } = embeddedServersPerTest();

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
    const kept = (await replayEverything(server.url, bob, acked.length + 1)).map(
      (m) => m.message.split(":")[0],
    );
    assert.deepEqual(kept, [...acked, "after"], "every acknowledged message, nothing else");
  });

  it("at --max-data-mb, sends are refused with UNAVAILABLE and nothing else changes", async () => {
    const server = await startChatServer({
      workers: 1,
      args: ["--rate-limit", "10000", "--max-data-mb", "1"],
    });
    servers.push(server);
    const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
    const a = await connectAs(server.url, alice, { transport: "websocket" });
    const b = await connectAs(server.url, bob, { transport: "websocket" });
    let acked = 0;
    let refused: unknown;
    // Each 4 KB message is kept twice (both inboxes): about 128 fit in 1 MiB.
    for (let i = 0; i < 400 && refused === undefined; i++) {
      const answer = await send(a, bob, "q".repeat(4000));
      if (answer.ok) acked++;
      else refused = answer.error.code;
    }
    assert.equal(refused, "UNAVAILABLE");
    assert.ok(acked > 50 && acked < 200, `${acked} accepted before the cap`);
    // Live features go on, and the readiness of the host is unchanged.
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    await waitForMessages(b, (m) => m.length === acked);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^chat_store_full_refusals_total [1-9]/m);
    assert.match(metrics, /^chat_store_kept_bytes \d{6,}/m);
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
