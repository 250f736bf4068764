/**
 * The contract's chat behaviour (CONTRACT.md section 3), written once and run against every
 * back-end: embedded mode on one host, and Redis mode across two hosts. `urls` are the entry
 * points clients connect to; in multi-host mode they are different hosts. Servers run with a
 * high `--rate-limit` so bursts test ordering, not the limiter (tested on its own).
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { NewMessage } from "../../src/protocol.js";
import {
  closeAll,
  connect,
  connectAs,
  emitAck,
  listUsers,
  logIn,
  send,
  uniqueName,
  waitForMessages,
  workerOf,
} from "../helpers/clients.js";
import { eventually } from "../helpers/wait.js";

export interface Deployment {
  /** Two entry points: one host twice (embedded) or two hosts (multi-host). */
  urls: [string, string];
  stop(): Promise<void>;
}

const texts = (messages: NewMessage[]) => messages.map((m) => m.message);

export function runContractSuite(label: string, deploy: () => Promise<Deployment>): void {
  describe(`chat contract (${label})`, () => {
    let deployment: Deployment;
    let urlA: string;
    let urlB: string;

    before(async () => {
      deployment = await deploy();
      [urlA, urlB] = deployment.urls;
    });
    afterEach(() => closeAll());
    after(() => deployment.stop());

    it("a polling-only client and a WebSocket client chat both ways", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(urlA, alice, { transport: "polling" });
      const b = await connectAs(urlB, bob, { transport: "websocket" });
      assert.equal(a.io.engine.transport.name, "polling");
      assert.equal(b.io.engine.transport.name, "websocket");

      const sent = await send(a, bob, "hello bob");
      assert.equal(sent.ok, true);
      assert.ok(sent.ok && sent.status === "delivered" && typeof sent.id === "string");
      const [got] = await waitForMessages(b, (m) => m.length === 1);
      assert.ok(got);
      assert.equal(got.from, alice);
      assert.equal(got.to, bob);
      assert.equal(got.message, "hello bob");
      assert.equal(got.id, sent.ok ? sent.id : undefined);
      assert.ok(Math.abs(got.sentAt - Date.now()) < 60_000);

      await send(b, alice, "hello alice");
      await waitForMessages(a, (m) => texts(m).includes("hello alice"));
    });

    it("clients upgrade from polling to WebSocket and keep chatting", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(urlA, alice);
      const b = await connectAs(urlB, bob);
      await eventually(() => assert.equal(a.io.engine.transport.name, "websocket"));
      await send(a, bob, "after upgrade");
      await waitForMessages(b, (m) => texts(m).includes("after upgrade"));
    });

    it("clients on different workers reach each other", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(urlA, alice, { transport: "websocket" });
      // New sessions go to the least-loaded worker: keep opening until one lands elsewhere.
      let b = await connectAs(urlA, bob, { transport: "websocket" });
      for (let i = 0; i < 10 && workerOf(b) === workerOf(a); i++) {
        b.disconnect();
        b = await connectAs(urlA, bob, { transport: "websocket" });
      }
      assert.notEqual(workerOf(a), workerOf(b), "expected the two sessions on different workers");
      await send(a, bob, "across workers");
      await send(b, alice, "and back");
      await waitForMessages(b, (m) => texts(m).includes("across workers"));
      await waitForMessages(a, (m) => texts(m).includes("and back"));
    });

    it("every connection of a user gets each message (multi-device)", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const phone = await connectAs(urlA, bob, { transport: "websocket" });
      const laptop = await connectAs(urlB, bob, { transport: "polling" });
      const tab = await connectAs(urlA, bob);
      const a = await connectAs(urlB, alice);
      const sent = await send(a, bob, "to all devices");
      assert.ok(sent.ok && sent.status === "delivered");
      for (const device of [phone, laptop, tab]) {
        await waitForMessages(device, (m) => texts(m).includes("to all devices"));
      }
    });

    it("a message to an offline user is stored and delivered after log in, oldest first", async () => {
      const [alice, carol] = [uniqueName("alice"), uniqueName("carol")];
      const a = await connectAs(urlA, alice);
      const first = await send(a, carol, "first");
      const second = await send(a, carol, "second");
      assert.ok(first.ok && first.status === "stored");
      assert.ok(second.ok && second.status === "stored");

      const c = connect(urlB);
      const answer = await logIn(c, carol);
      assert.deepEqual(answer, { ok: true, username: carol });
      const got = await waitForMessages(c, (m) => m.length >= 2);
      assert.deepEqual(texts(got), ["first", "second"]);
      assert.equal(got[0]?.from, alice);

      // Handed over once: a later log in without `since` does not repeat them.
      const again = await connectAs(urlA, carol);
      await send(a, carol, "third");
      await waitForMessages(again, (m) => texts(m).includes("third"));
      assert.deepEqual(texts(again.received), ["third"]);
    });

    it("`since` replays every kept message after the given id", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(urlA, alice);
      const b = await connectAs(urlB, bob);
      for (const text of ["m1", "m2", "m3"]) await send(a, bob, text);
      const seen = await waitForMessages(b, (m) => m.length === 3);
      b.disconnect();
      await eventually(async () => {
        const answer = await listUsers(a);
        assert.ok(answer.ok && !answer.users.includes(bob), "bob is offline");
      });
      const missed = await send(a, bob, "m4");
      assert.ok(missed.ok && missed.status === "stored");

      // A replay may repeat messages the client saw before the given id (clients drop
      // duplicates by id); what it must hold is everything after it, in order.
      const back = await connectAs(urlA, bob, { since: seen[1]?.id });
      const fresh = (m: NewMessage[]) =>
        m.filter((x) => !seen.slice(0, 2).some((s) => s.id === x.id));
      const replayed = await waitForMessages(back, (m) => fresh(m).length >= 2);
      assert.deepEqual(texts(fresh(replayed)), ["m3", "m4"]);
    });

    it("a burst from one sender arrives in the order it was sent", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(urlA, alice, { transport: "websocket" });
      const b = await connectAs(urlB, bob, { transport: "websocket" });
      const count = 200;
      const acks = Array.from({ length: count }, (_, i) => send(a, bob, `n${i}`));
      const answers = await Promise.all(acks);
      assert.ok(answers.every((x) => x.ok));
      const got = await waitForMessages(b, (m) => m.length === count);
      assert.deepEqual(
        texts(got),
        Array.from({ length: count }, (_, i) => `n${i}`),
      );
      const ids = answers.map((x) => (x.ok ? x.id : ""));
      assert.equal(new Set(ids).size, count, "ids are unique");
    });

    it("messages sent while the recipient comes online arrive once each, in order", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const a = await connectAs(urlA, alice, { transport: "websocket" });
      const count = 120;
      const answers: Promise<unknown>[] = [];
      let b: ReturnType<typeof connect> | undefined;
      for (let i = 0; i < count; i++) {
        answers.push(send(a, bob, `t${i}`));
        // bob logs in a third of the way through, on whichever worker or host he lands on.
        if (i === count / 3) b = await connectAs(urlB, bob, { transport: "websocket" });
        if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(answers);
      assert.ok(b);
      const got = await waitForMessages(b, (m) => new Set(m.map((x) => x.id)).size >= count);
      const firstSeen = [...new Map(got.map((m) => [m.id, m.message])).values()];
      assert.deepEqual(
        firstSeen,
        Array.from({ length: count }, (_, i) => `t${i}`),
      );
    });

    it("list users shows who is online, sorted; log out and disconnect take users off", async () => {
      const names = [uniqueName("zed"), uniqueName("amy"), uniqueName("max")];
      const [z, amy, m] = [
        await connectAs(urlA, names[0] as string),
        await connectAs(urlB, names[1] as string),
        await connectAs(urlA, names[2] as string),
      ];
      await eventually(async () => {
        const answer = await listUsers(amy);
        assert.ok(answer.ok);
        for (const name of names) assert.ok(answer.users.includes(name), `${name} listed`);
        assert.deepEqual(answer.users, [...answer.users].sort());
      });

      assert.deepEqual(await emitAck(z, "log out"), { ok: true });
      m.disconnect();
      await eventually(async () => {
        const answer = await listUsers(amy);
        assert.ok(answer.ok);
        assert.ok(!answer.users.includes(names[0] as string));
        assert.ok(!answer.users.includes(names[2] as string));
      });
      // After log out the connection may send nothing until it logs in again.
      const refused = await send(z, names[1] as string, "x");
      assert.equal(refused.ok, false);
      assert.equal(!refused.ok && refused.error.code, "NOT_LOGGED_IN");
      const stored = await send(amy, names[0] as string, "while logged out");
      assert.ok(stored.ok && stored.status === "stored");
    });

    it("`__proto__` and `constructor` are ordinary usernames", async () => {
      const suffix = uniqueName("");
      const proto = await connectAs(urlA, "__proto__");
      const ctor = await connectAs(urlB, "constructor");
      const other = await connectAs(urlA, `plain${suffix}`);
      await send(other, "__proto__", "to proto");
      await send(other, "constructor", "to ctor");
      await waitForMessages(proto, (m) => texts(m).includes("to proto"));
      await waitForMessages(ctor, (m) => texts(m).includes("to ctor"));
      assert.ok(!texts(proto.received).includes("to ctor"));
      const answer = await listUsers(other);
      assert.ok(
        answer.ok && answer.users.includes("__proto__") && answer.users.includes("constructor"),
      );
    });

    it("one connection cannot log in as a second user", async () => {
      const a = await connectAs(urlA, uniqueName("one"));
      const answer = await logIn(a, uniqueName("two"));
      assert.equal(answer.ok, false);
      assert.equal(!answer.ok && answer.error.code, "ALREADY_LOGGED_IN");
    });
  });
}
