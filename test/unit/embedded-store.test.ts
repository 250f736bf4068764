/**
 * The embedded database's parts on real files: inbox records (ids, both copies, trimming,
 * replay ranges, cursors), presence records, the primary's retention sweep, the receiving
 * worker's delivery chains, and two processes writing one database at once.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import pino from "pino";
import type { NewMessage } from "../../src/protocol.js";
import { DeliveryChains } from "../../src/routing/delivery-chains.js";
import { EmbeddedBackend } from "../../src/routing/embedded-backend.js";
import { PeerMesh } from "../../src/routing/peer-mesh.js";
import { ChatStore, type StoredMessage } from "../../src/store/chat-store.js";
import {
  compareIds,
  type Id,
  InboxWriter,
  idText,
  keptBytes,
  keptMessages,
  parseId,
  readAfter,
  readRecord,
  storedBytes,
  usersWithInboxes,
} from "../../src/store/inbox-records.js";
import { addPair, listUsers, removeWorker, workersOf } from "../../src/store/presence-records.js";
import { StoreKeeper } from "../../src/store/store-keeper.js";

const directories: string[] = [];
after(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function storeFile(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), "chat-store-unit-"));
  directories.push(directory);
  return path.join(directory, "chat.mdb");
}

function openStore(file = storeFile()): ChatStore {
  return new ChatStore({ file, maxBytes: 256 * 1024 * 1024 });
}

const LIMITS = { maxPerUser: 10, maxAgeMs: 60_000 };

/** The primary's keeper on `file`, opened (format checked or upgraded, presence cleared). */
async function openKeeper(file: string): Promise<StoreKeeper> {
  const keeper = new StoreKeeper({
    file,
    maxBytes: 256 * 1024 * 1024,
    logger: pino({ level: "silent" }),
    limits: LIMITS,
  });
  await keeper.open();
  return keeper;
}

/** Stores `from` -> `to` messages in one transaction, as a worker's batch does. */
function sendAll(store: ChatStore, items: [string, string, string][], now = Date.now()) {
  return store.transaction(() => {
    const writer = new InboxWriter(store, LIMITS);
    const out = items.map(([from, to, text]) => {
      const id = writer.nextId(now);
      const prevTo = writer.append(to, id, [from, to, text, now], false);
      const prevFrom = writer.append(from, id, [from, to, text, now], true);
      return { id, prevTo, prevFrom };
    });
    writer.finish();
    return out;
  });
}

const texts = (entries: { message: NewMessage }[]) => entries.map((e) => e.message.message);

describe("inbox records", () => {
  it("hand out increasing ids, even when the clock stands still or goes back", async () => {
    const store = openStore();
    const a = await sendAll(
      store,
      [
        ["amy", "bob", "1"],
        ["amy", "bob", "2"],
      ],
      1000,
    );
    const b = await sendAll(store, [["amy", "bob", "3"]], 900);
    const c = await sendAll(store, [["amy", "bob", "4"]], 2000);
    const ids = [...a, ...b, ...c].map((r) => r.id);
    for (let i = 1; i < ids.length; i++) {
      assert.ok(compareIds(ids[i - 1] as Id, ids[i] as Id) < 0, `${ids[i - 1]} < ${ids[i]}`);
    }
    assert.deepEqual(ids.map(idText), ["1000-0", "1000-1", "1000-2", "2000-0"]);
    await store.close();
  });

  it("keep a message in both inboxes under one id, chained to each inbox's previous entry", async () => {
    const store = openStore();
    const [first, second] = await sendAll(store, [
      ["amy", "bob", "hi bob"],
      ["cat", "bob", "hi from cat"],
    ]);
    assert.ok(first && second);
    assert.equal(first.prevTo, null);
    assert.deepEqual(second.prevTo, first.id, "bob's inbox: second follows first");
    assert.equal(second.prevFrom, null, "cat's inbox had nothing before");
    assert.deepEqual(texts(readAfter(store, "bob", null, 100)), ["hi bob", "hi from cat"]);
    assert.deepEqual(texts(readAfter(store, "amy", null, 100)), ["hi bob"]);
    assert.deepEqual(texts(readAfter(store, "bob", first.id, 100)), ["hi from cat"]);
    // A `since` id that was never handed out still positions the replay by order.
    assert.deepEqual(texts(readAfter(store, "bob", parseId("0-0"), 100)).length, 2);
    await store.close();
  });

  it("trim each inbox to its newest messages, both directions counted", async () => {
    const store = openStore();
    const items: [string, string, string][] = [];
    for (let i = 0; i < 200; i++)
      items.push(i % 2 ? ["amy", "bob", `${i}`] : ["bob", "amy", `${i}`]);
    await sendAll(store, items);
    const kept = readAfter(store, "bob", null, 1000);
    // Trimming waits for some slack, then removes down to the limit: at least the newest 10.
    assert.ok(kept.length >= LIMITS.maxPerUser && kept.length < 100, `${kept.length} kept`);
    assert.equal(kept.at(-1)?.message.message, "199");
    // The byte count follows trimming: what the two inboxes keep, no more.
    const onDisk = [...store.messages.getRange({})].filter((e) => e.key.length === 3);
    const left = onDisk.reduce((sum, e) => sum + storedBytes(e.value as StoredMessage), 0);
    assert.equal(keptBytes(store), left);
    assert.equal(keptMessages(store), onDisk.length);
    assert.deepEqual(
      texts(readAfter(store, "bob", null, 10)),
      Array.from({ length: 10 }, (_, i) => `${190 + i}`),
    );
    await store.close();
  });
});

describe("commit window", () => {
  it("writes queued together commit together; one that throws rejects alone, the rest commit", async () => {
    const store = openStore();
    const order: string[] = [];
    const first = store.transaction(() => {
      order.push("first");
      store.meta.put("first", 1);
      return "one";
    });
    const failing = store.transaction(() => {
      order.push("failing");
      store.meta.put("written before the error", 1);
      throw new Error("this write fails");
    });
    const third = store.transaction(() => {
      order.push("third");
      store.meta.put("third", 3);
      return store.meta.get("first");
    });
    assert.equal(await first, "one");
    await assert.rejects(failing, /this write fails/);
    // The third ran after the first and read its write.
    assert.equal(await third, 1);
    assert.deepEqual(order, ["first", "failing", "third"]);
    store.refresh();
    assert.equal(store.meta.get("first"), 1);
    assert.equal(store.meta.get("third"), 3);
    // As lmdb-js does for the callbacks it batches: what the failing one wrote stays.
    assert.equal(store.meta.get("written before the error"), 1);

    // committed() does not wait for the window: it commits what is queued and resolves after.
    const queued = store.transaction(() => store.meta.put("queued", 1));
    await store.committed();
    store.refresh();
    assert.equal(store.meta.get("queued"), 1);
    await queued;
    await store.close();
  });
});

describe("presence records", () => {
  it("find a user's workers, a dead worker's users, and list users sorted without repeats", async () => {
    const store = openStore();
    await store.transaction(() => {
      addPair(store.presence, "bob", 1);
      addPair(store.presence, "bob", 2);
      addPair(store.presence, "amy", 2);
      addPair(store.presence, "__proto__", 3);
    });
    assert.deepEqual(workersOf(store.presence, "bob"), [1, 2]);
    assert.deepEqual(listUsers(store.presence, 10), ["__proto__", "amy", "bob"]);
    assert.deepEqual(listUsers(store.presence, 2), ["__proto__", "amy"]);
    const gone = await store.transaction(() => removeWorker(store.presence, 2));
    assert.deepEqual(gone.sort(), ["amy", "bob"]);
    assert.deepEqual(workersOf(store.presence, "bob"), [1]);
    assert.deepEqual(listUsers(store.presence, 10), ["__proto__", "bob"]);
    await store.close();
  });
});

describe("format upgrade", () => {
  it("moves format 1's user records next to their messages, and workers refuse the old format", async () => {
    const file = storeFile();
    const t = Date.now();
    // A database as chat-server wrote it in format 1: records in their own table.
    const old = openStore(file);
    await old.transaction(() => {
      old.meta.put("format", 1);
      old.meta.put("lastId", [t, 1]);
      old.meta.put("bytes", 400);
      old.messages.put(["bob", t, 0], ["amy", "bob", "first", t]);
      old.messages.put(["bob", t, 1], ["amy", "bob", "second", t]);
      old.messages.put(["amy", t, 0], ["amy", "bob", "first", t, "s1"]);
      old.messages.put(["amy", t, 1], ["amy", "bob", "second", t, "s1"]);
      old.formatOneUsers.put("bob", { tip: [t, 1], cursor: [t, 0], count: 2 });
      old.formatOneUsers.put("amy", { tip: [t, 1], cursor: [t, 1], count: 2 });
    });
    assert.throws(() => old.requireFormat(), /format 1, this worker needs 2: restart/);
    await old.close();

    const keeper = await openKeeper(file);
    const { store } = keeper;
    store.requireFormat();
    assert.equal(store.meta.get("format"), 2);
    assert.deepEqual(readRecord(store, "bob"), { tip: [t, 1], cursor: [t, 0], count: 2 });
    assert.deepEqual(texts(readAfter(store, "bob", [t, 0], 10)), ["second"]);
    assert.deepEqual(usersWithInboxes(store, undefined, 10), ["amy", "bob"]);
    assert.equal(keeper.size().messages, 4);
    assert.equal(keptBytes(store), 400);
    assert.equal(store.formatOneUsers.getKeysCount(), 0);
    // New sends carry on from the old ids and records.
    const [sent] = await sendAll(store, [["amy", "bob", "third"]], t);
    assert.equal(sent && idText(sent.id), `${t}-2`);
    assert.deepEqual(sent?.prevTo, [t, 1]);
    assert.equal(keeper.size().messages, 6);
    await keeper.close();
  });
});

describe("retention on disk", () => {
  it("the sweep removes expired messages, and rewriting reuses the space they held", async () => {
    const file = storeFile();
    const keeper = await openKeeper(file);
    const { store } = keeper;
    const text = "x".repeat(2000);
    const round = async (now: number) => {
      for (let user = 0; user < 50; user++) {
        await sendAll(
          store,
          Array.from(
            { length: 10 },
            () => [`s${user}`, `r${user}`, text] as [string, string, string],
          ),
          now,
        );
      }
    };
    const start = Date.now() - 10 * LIMITS.maxAgeMs;
    await round(start);
    const full = keeper.size();
    assert.equal(full.messages, 50 * 10 * 2);
    // Everything is older than the limit now: the sweep empties the database.
    assert.equal(await keeper.sweep(start + LIMITS.maxAgeMs + 1), 1000);
    assert.equal(keeper.size().messages, 0);
    assert.deepEqual(usersWithInboxes(store, undefined, 10), [], "empty inboxes are forgotten");
    // The same amount again fits in the freed pages: the file does not grow by much.
    for (let i = 1; i <= 3; i++) {
      await round(start + i);
      await keeper.sweep(start + i + LIMITS.maxAgeMs + 1);
    }
    assert.ok(
      keeper.size().fileBytes <= full.fileBytes * 1.5,
      `file grew from ${full.fileBytes} to ${keeper.size().fileBytes}`,
    );
    await keeper.close();
  });
});

describe("delivery chains", () => {
  it("deliver in inbox order whatever order hand-offs arrive in, reading gaps from the store", async () => {
    const store = openStore();
    const results = await sendAll(store, [
      ["amy", "bob", "1"],
      ["cat", "bob", "2"],
      ["amy", "bob", "3"],
    ]);
    const delivered: string[] = [];
    const chains = new DeliveryChains(
      (user, after) => readAfter(store, user, after, 100).map(({ message }) => ({ message })),
      ({ message }) => delivered.push(message.message),
    );
    const handOff = (i: number) => {
      const r = results[i];
      assert.ok(r);
      const message: NewMessage = {
        id: idText(r.id),
        from: "x",
        to: "bob",
        message: `${i + 1}`,
        sentAt: 0,
      };
      chains.receive("bob", r.prevTo, { message });
    };
    chains.expect("bob");
    handOff(0); // held until the registration's tip is known
    chains.started("bob", null);
    assert.deepEqual(delivered, ["1"]);
    handOff(2); // "2" was not handed over yet: read from the store
    assert.deepEqual(delivered, ["1", "2", "3"]);
    handOff(1); // arrives late: already delivered
    handOff(2);
    assert.deepEqual(delivered, ["1", "2", "3"]);
    assert.equal(chains.filled, 2);
    chains.forget("bob");
    handOff(0);
    assert.deepEqual(delivered, ["1", "2", "3"], "nothing for a user with no session here");
    await store.close();
  });
});

describe("two processes writing one database", () => {
  it("get unique ids in one order, and every message is found after", async () => {
    const file = storeFile();
    const writerScript = `
      import { ChatStore } from ${JSON.stringify(path.resolve(import.meta.dirname, "../../src/store/chat-store.js"))};
      import { InboxWriter } from ${JSON.stringify(path.resolve(import.meta.dirname, "../../src/store/inbox-records.js"))};
      const store = new ChatStore({ file: process.argv[1], maxBytes: 256 * 1024 * 1024 });
      const name = process.argv[2];
      const pending = [];
      for (let batch = 0; batch < 40; batch++) {
        pending.push(store.transaction(() => {
          const writer = new InboxWriter(store, { maxPerUser: 100000, maxAgeMs: 1e12 });
          for (let i = 0; i < 50; i++) {
            const id = writer.nextId(Date.now());
            writer.append("bob", id, [name, "bob", name + ":" + (batch * 50 + i), Date.now()], false);
          }
          writer.finish();
        }));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(pending);
      await store.close();
    `;
    // As in the server, where the primary opens (and so creates) the database before forking.
    const created = openStore(file);
    await created.checkFormat();
    await created.close();
    const children = ["p1", "p2"].map((name) =>
      spawn(process.execPath, ["--input-type=module", "-e", writerScript, file, name], {
        stdio: "inherit",
      }),
    );
    const codes = await Promise.all(children.map((child) => once(child, "exit")));
    assert.deepEqual(
      codes.map(([code]) => code),
      [0, 0],
    );
    const store = openStore(file);
    const all = readAfter(store, "bob", null, 100_000).map((e) => e.message);
    assert.equal(all.length, 4000);
    assert.equal(new Set(all.map((m) => m.id)).size, 4000, "ids are unique");
    for (const name of ["p1", "p2"]) {
      const order = all.filter((m) => m.from === name).map((m) => Number(m.message.split(":")[1]));
      assert.deepEqual(
        order,
        Array.from({ length: 2000 }, (_, i) => i),
        `${name} in order`,
      );
    }
    await store.close();
  });
});

describe("the embedded back-end", () => {
  it("a log in while sends arrive: the replay has what came before it, live delivery the rest", async () => {
    const store = openStore();
    await store.checkFormat();
    const logger = pino({ level: "silent" });
    const directory = mkdtempSync(path.join(os.tmpdir(), "chat-mesh-unit-"));
    directories.push(directory);
    const mesh = new PeerMesh(1, directory, { frames: () => {}, peerConnected: () => {} }, logger);
    const backend = new EmbeddedBackend({ store, mesh, workerId: 1, logger });
    await backend.start();
    const live: string[] = [];
    backend.onDeliver(({ user, message }) => {
      if (user === "bob") live.push(message.message);
    });
    assert.equal((await backend.send("amy", "bob", "before")).status, "stored");
    // bob's first session registers; a send queued right behind it sees him online (and moves
    // his "seen" cursor) before his replay is asked for.
    backend.addPresence("bob");
    const during = backend.send("amy", "bob", "during");
    assert.equal((await during).status, "delivered");
    const replayed = (await backend.replay("bob", undefined)).map((m) => m.message);
    assert.deepEqual(replayed, ["before"]);
    assert.deepEqual(live, ["during"]);
    await backend.close();
    await store.close();
  });
});
