/**
 * The contract's chat behaviour (CONTRACT.md section 3), written once and run against every
 * back-end: embedded mode on one host, and Redis mode across two hosts. `urls` are the entry
 * points clients connect to; in multi-host mode they are different hosts. Servers run with a
 * high `--rate-limit` so bursts test ordering, not the limiter (tested on its own).
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { NewMessage, PresenceEvent, TypingEvent } from "../../src/protocol.js";
import {
  type ChatClient,
  closeAll,
  connect,
  connectAs,
  connectAsOnOtherWorker,
  emitAck,
  listUsers,
  logIn,
  replayEverything,
  send,
  uniqueName,
  waitForMessages,
  workerOf,
} from "../helpers/clients.js";
import { eventually } from "../helpers/wait.js";
import { deliveryContractTests } from "./contract-delivery.js";

export interface Deployment {
  /** Two entry points: one host twice (embedded) or two hosts (multi-host). */
  urls: [string, string];
  stop(): Promise<void>;
  /** Seconds until a user's inbox expires, where the test can read it from the store. */
  inboxTtlSeconds?(user: string): Promise<number>;
}

export interface SuiteOptions {
  /**
   * Contract rules this back-end does not keep yet: their tests still run, reported as TODO
   * (a failure there does not fail the run) until the back-end catches up.
   */
  pending?: string[];
}

const texts = (messages: NewMessage[]) => messages.map((m) => m.message);

/** `presence` and `typing` events a client received, in order. */
type Watcher = ChatClient & { presence: PresenceEvent[]; typing: TypingEvent[] };

function recordEvents(socket: ChatClient): Watcher {
  const watcher = Object.assign(socket, {
    presence: [] as PresenceEvent[],
    typing: [] as TypingEvent[],
  });
  watcher.on("presence", (event) => watcher.presence.push(event));
  watcher.on("typing", (event) => watcher.typing.push(event));
  return watcher;
}

async function watchAs(url: string, name: string): Promise<Watcher> {
  return recordEvents(await connectAs(url, name));
}

const watch = (socket: ChatClient, usernames: unknown) =>
  emitAck<{ ok: boolean; online?: string[]; error?: { code: string } }>(socket, "watch", {
    usernames,
  });

/** The presence events `watcher` got about `user`, as "on"/"off". */
const changesOf = (watcher: Watcher, user: string) =>
  watcher.presence.filter((e) => e.username === user).map((e) => (e.online ? "on" : "off"));

/**
 * Waits until `watcher` has heard that `marker` came online. Events to one connection keep
 * their order, so anything caused before the marker logged in has arrived by then: this is
 * how a test shows that something did not happen, without waiting for time.
 */
async function passMarker(watcher: Watcher, url: string): Promise<void> {
  const marker = uniqueName("marker");
  const answer = await watch(watcher, [marker]);
  assert.ok(answer.ok);
  await connectAs(url, marker);
  await eventually(() => assert.deepEqual(changesOf(watcher, marker), ["on"]));
}

export function runContractSuite(
  label: string,
  deploy: () => Promise<Deployment>,
  options: SuiteOptions = {},
): void {
  /** `{ todo }` for the tests of a rule this back-end does not keep yet. */
  const unless = (rule: string) =>
    options.pending?.includes(rule) ? { todo: `${rule}: not in this back-end yet` } : {};
  describe(`chat contract (${label})`, () => {
    let deployment: Deployment | undefined;
    let urlA: string;
    let urlB: string;

    before(async () => {
      deployment = await deploy();
      [urlA, urlB] = deployment.urls;
    });
    afterEach(() => closeAll());
    after(() => deployment?.stop());

    deliveryContractTests(() => deployment as Deployment, unless("order per device"));

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
      // New sessions go to the least-loaded worker, or where the kernel puts them (workers that
      // accept themselves): keep opening until one lands elsewhere.
      const b = await connectAsOnOtherWorker(urlA, bob, a, { transport: "websocket" });
      assert.notEqual(workerOf(a), workerOf(b), "expected the two sessions on different workers");
      await send(a, bob, "across workers");
      await send(b, alice, "and back");
      await waitForMessages(b, (m) => texts(m).includes("across workers"));
      await waitForMessages(a, (m) => texts(m).includes("and back"));
    });

    it("a text with quotes, escapes, controls and non-ASCII arrives exactly as sent, on every device", async () => {
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const text =
        'he said "hi" \\ \\" \\u0041 / </script> {"id":"x"}\n\ttab \u0000 \u0001 \u001f \u007f ' +
        "é 中文 😀 \u2028 \u2029 \ufeff";
      const sender = await connectAs(urlA, alice);
      const senderLaptop = await connectAs(urlB, alice);
      const b = await connectAs(urlB, bob);
      const sent = await send(sender, bob, text);
      assert.ok(sent.ok && sent.status === "delivered");
      for (const device of [b, senderLaptop]) {
        const [got] = await waitForMessages(device, (m) => m.length === 1);
        assert.equal(got?.message, text);
        assert.equal(got?.id, sent.id);
      }
      const [replayed] = await replayEverything(urlA, bob, 1);
      assert.equal(replayed?.id, sent.id);
      assert.equal(replayed?.message, text);
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
      let b = await connectAs(urlB, bob, { transport: "websocket" });
      // On one host, order must hold across workers: keep opening until bob is on another.
      for (let i = 0; i < 40 && urlA === urlB && workerOf(b) === workerOf(a); i++) {
        b.disconnect();
        b = await connectAs(urlB, bob, { transport: "websocket" });
      }
      if (urlA === urlB)
        assert.notEqual(workerOf(a), workerOf(b), "sender and recipient on one worker");
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

    it("watch answers who is online; presence when the first session logs in and the last leaves, not for a second device", async () => {
      const [watcherName, target, present] = [uniqueName("w"), uniqueName("t"), uniqueName("p")];
      const w = await watchAs(urlA, watcherName);
      await connectAs(urlB, present);
      const answer = await watch(w, [target, present]);
      assert.deepEqual(answer, { ok: true, online: [present] });

      // First session, on the other entry point (another host in multi-host mode).
      const phone = await connectAs(urlB, target, { transport: "websocket" });
      await eventually(() => assert.deepEqual(changesOf(w, target), ["on"]));
      // A second device and then the first one leaving: still online, so nothing.
      const laptop = await connectAs(urlA, target);
      phone.disconnect();
      await passMarker(w, urlB);
      assert.deepEqual(changesOf(w, target), ["on"]);
      assert.deepEqual(await emitAck(laptop, "log out"), { ok: true });
      await eventually(() => assert.deepEqual(changesOf(w, target), ["on", "off"]));
      assert.deepEqual(
        w.presence.filter((e) => e.username === target),
        [
          { username: target, online: true },
          { username: target, online: false },
        ],
      );
    });

    it("presence reaches watchers on another worker; a connection that does not watch gets none", async () => {
      const target = uniqueName("t");
      const w = await watchAs(urlA, uniqueName("w"));
      // A watcher on a different worker than w (keep opening until one lands there).
      let other = await watchAs(urlA, uniqueName("w2"));
      for (let i = 0; i < 40 && workerOf(other) === workerOf(w); i++) {
        other.disconnect();
        other = await watchAs(urlA, uniqueName("w2"));
      }
      assert.notEqual(workerOf(other), workerOf(w), "expected the watchers on different workers");
      const bystander = await watchAs(urlA, uniqueName("by"));
      for (const socket of [w, other]) assert.ok((await watch(socket, [target])).ok);
      const t = await connectAs(urlB, target);
      await eventually(() => assert.deepEqual(changesOf(w, target), ["on"]));
      await eventually(() => assert.deepEqual(changesOf(other, target), ["on"]));
      t.disconnect();
      await eventually(() => assert.deepEqual(changesOf(other, target), ["on", "off"]));
      await passMarker(bystander, urlB);
      assert.deepEqual(changesOf(bystander, target), []);
    });

    it("nothing after unwatch, and watches end with the session", async () => {
      const [t1, t2] = [uniqueName("t"), uniqueName("t")];
      const name = uniqueName("w");
      const w = await watchAs(urlA, name);
      assert.ok((await watch(w, [t1, t2])).ok);
      assert.deepEqual(await emitAck(w, "unwatch", { usernames: [t1] }), { ok: true });
      // Log out and in again on the same connection: the watch of t2 is gone too.
      assert.deepEqual(await emitAck(w, "log out"), { ok: true });
      assert.ok((await logIn(w, name)).ok);
      await connectAs(urlB, t1);
      await connectAs(urlB, t2);
      await passMarker(w, urlB);
      assert.deepEqual(changesOf(w, t1), []);
      assert.deepEqual(changesOf(w, t2), []);
    });

    it("watch and unwatch: the contract's limits and codes, and a refused call changes nothing", async () => {
      const anonymous = connect(urlA);
      const notLoggedIn = await watch(anonymous, ["amy"]);
      assert.equal(notLoggedIn.error?.code, "NOT_LOGGED_IN");
      const w = await watchAs(urlA, uniqueName("w"));
      const codes: [unknown, string][] = [
        [undefined, "INVALID_PAYLOAD"],
        ["amy", "INVALID_PAYLOAD"],
        [[], "INVALID_PAYLOAD"],
        [Array.from({ length: 501 }, (_, i) => `n${i}`), "INVALID_PAYLOAD"],
        [["ok", "not ok"], "INVALID_USERNAME"],
        [[42], "INVALID_USERNAME"],
        [[{}], "INVALID_USERNAME"],
      ];
      for (const [usernames, code] of codes) {
        assert.equal((await watch(w, usernames)).error?.code, code, JSON.stringify(usernames));
        const unwatched = await emitAck<{ error?: { code: string } }>(w, "unwatch", { usernames });
        assert.equal(unwatched.error?.code, code, `unwatch ${JSON.stringify(usernames)}`);
      }
      // 1000 on one connection, in calls of 500; names already watched do not count twice.
      const prefix = uniqueName("many");
      const names = Array.from({ length: 1000 }, (_, i) => `${prefix}x${i}`);
      assert.ok((await watch(w, names.slice(0, 500))).ok);
      assert.ok((await watch(w, names.slice(500))).ok);
      assert.ok((await watch(w, names.slice(0, 10))).ok);
      const late = uniqueName("late");
      const over = await watch(w, [names[0], late]);
      assert.equal(over.error?.code, "INVALID_PAYLOAD");
      // Without a callback, the error comes as `chat error`.
      const errorEvent = new Promise((resolve) => w.once("chat error", resolve));
      (w as unknown as { emit: (e: string, p: unknown) => void }).emit("watch", { usernames: [] });
      assert.deepEqual(await errorEvent, {
        code: "INVALID_PAYLOAD",
        message: "Send { usernames: [...] } with at least one name",
        event: "watch",
      });
      // The refused call watched nothing: `late` logging in is not reported.
      const marker = uniqueName("marker");
      assert.deepEqual(await emitAck(w, "unwatch", { usernames: [names[1]] }), { ok: true });
      assert.ok((await watch(w, [marker])).ok);
      await connectAs(urlB, late);
      await connectAs(urlB, marker);
      await eventually(() => assert.deepEqual(changesOf(w, marker), ["on"]));
      assert.deepEqual(changesOf(w, late), []);
    });

    it("typing reaches every session of the recipient, and nothing is stored for an offline one", async () => {
      const [alice, bob, carol] = [uniqueName("alice"), uniqueName("bob"), uniqueName("carol")];
      const a = await watchAs(urlA, alice);
      const phone = await watchAs(urlB, bob);
      const laptop = await watchAs(urlA, bob);
      assert.deepEqual(await emitAck(a, "typing", { username: bob }), { ok: true });
      for (const device of [phone, laptop]) {
        await eventually(() => assert.deepEqual(device.typing, [{ from: alice }]));
      }
      assert.deepEqual(a.typing, []);
      assert.deepEqual(await emitAck(a, "typing", { username: carol }), { ok: true });
      const bad = await emitAck<{ error?: { code: string } }>(a, "typing", { username: "no one" });
      assert.equal(bad.error?.code, "INVALID_USERNAME");
      const anonymous = await emitAck<{ error?: { code: string } }>(connect(urlA), "typing", {
        username: bob,
      });
      assert.equal(anonymous.error?.code, "NOT_LOGGED_IN");
      // carol logs in later: no typing hint and no message were kept for her.
      const c = await watchAs(urlB, carol);
      await send(a, carol, "after typing");
      await waitForMessages(c, (m) => m.length >= 1);
      assert.deepEqual(texts(c.received), ["after typing"]);
      assert.deepEqual(c.typing, []);
    });

    it(
      "a sent message reaches the sender's other sessions, not the sending one",
      unless("sender copies"),
      async () => {
        const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
        const phone = await connectAs(urlA, alice, { transport: "websocket" });
        const laptop = await connectAs(urlB, alice);
        const tab = await connectAs(urlA, alice);
        const b = await connectAs(urlB, bob);
        const sent = await send(phone, bob, "from my phone");
        assert.ok(sent.ok && sent.status === "delivered");
        for (const device of [laptop, tab]) {
          const [copy] = await waitForMessages(device, (m) => m.length === 1);
          assert.deepEqual(copy, { ...copy, id: sent.id, from: alice, to: bob });
        }
        await waitForMessages(b, (m) => texts(m).includes("from my phone"));
        // bob's answer reaches the phone after anything the phone would have got before it.
        await send(b, alice, "reply");
        await waitForMessages(phone, (m) => texts(m).includes("reply"));
        assert.deepEqual(texts(phone.received), ["reply"]);
      },
    );

    it(
      "`since` on a new device replays both directions in order; without it, nothing already seen",
      unless("sender copies"),
      async () => {
        const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
        const a = await connectAs(urlA, alice);
        const b = await connectAs(urlB, bob);
        const first = await send(a, bob, "q1");
        assert.ok(first.ok);
        await waitForMessages(b, (m) => m.length === 1);
        await send(b, alice, "a1");
        await waitForMessages(a, (m) => texts(m).includes("a1"));
        await send(a, bob, "q2");
        await waitForMessages(b, (m) => texts(m).includes("q2"));
        await send(b, alice, "a2");
        await waitForMessages(a, (m) => texts(m).includes("a2"));

        const fresh = await connectAs(urlB, alice, { since: first.id });
        const later = (m: NewMessage[]) => texts(m).filter((x) => x !== "q1");
        const replayed = await waitForMessages(fresh, (m) => later(m).length >= 3);
        assert.deepEqual(later(replayed), ["a1", "q2", "a2"]);
        // Without `since`: everything here was seen by a session of alice (sent ones by her).
        const plain = await connectAs(urlA, alice);
        await send(b, alice, "a3");
        await waitForMessages(plain, (m) => texts(m).includes("a3"));
        assert.deepEqual(texts(plain.received), ["a3"]);
      },
    );
  });
}
