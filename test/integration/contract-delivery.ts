/**
 * Delivery promises of the contract (CONTRACT.md section 3) beyond the basic cases, part of the
 * shared contract suite (contract-suite.ts) so they hold in embedded and multi-host mode alike:
 * order per device, for a polling sender, across a reconnect; `__proto__` and `constructor`
 * through storage and `since`; an inbox keeps the newest 1000 (and 7 days, where the deployment
 * lets a test read the expiry).
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import type { NewMessage } from "../../src/protocol.js";
import {
  connectAs,
  connectTracking,
  listUsers,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { eventually } from "../helpers/wait.js";

export interface DeliveryTarget {
  urls: [string, string];
  /** Seconds until `user`'s inbox expires, read from the store, where the test can see it. */
  inboxTtlSeconds?(user: string): Promise<number>;
}

const texts = (messages: NewMessage[]) => messages.map((m) => m.message);
const SEVEN_DAYS_S = 7 * 24 * 3600;

export function deliveryContractTests(
  target: () => DeliveryTarget,
  orderPerDevice: { todo?: string } = {},
): void {
  it(
    "order per device: a polling sender, a recipient with several sessions, one reconnecting mid-stream",
    orderPerDevice,
    async () => {
      const [urlA, urlB] = target().urls;
      const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
      const sender = await connectAs(urlA, alice, { transport: "polling", upgrade: false });
      const phone = await connectAs(urlA, bob, { transport: "websocket" });
      const laptop = await connectAs(urlB, bob, { transport: "polling", upgrade: false });
      // A careful client: logs in again with `since` = the last id it saw, drops duplicates.
      const tablet = connectTracking(urlB, bob, { transport: "websocket" });
      await eventually(() => assert.equal(tablet.logins, 1));
      const expected = Array.from({ length: 80 }, (_, i) => `o${i}`);
      const first = await Promise.all(expected.slice(0, 40).map((text) => send(sender, bob, text)));
      // The tablet loses its connection mid-stream; the rest is sent while it reconnects. An
      // acknowledgement can reach the sender before the hand-off reaches the tablet's worker, so
      // wait until the stream has reached the tablet: a device that has seen nothing has no
      // `since` to log in with, and the other devices have seen it all.
      await eventually(() => assert.ok(tablet.unique.size > 0, "the stream reached the tablet"));
      tablet.io.engine.close();
      const rest = await Promise.all(expected.slice(40).map((text) => send(sender, bob, text)));
      assert.ok(
        [...first, ...rest].every((answer) => answer.ok),
        "every send acknowledged",
      );
      for (const device of [phone, laptop]) {
        const got = await waitForMessages(device, (m) => m.length >= expected.length);
        assert.deepEqual(texts(got), expected, "each live session gets them once, in order");
      }
      await eventually(() => assert.ok(tablet.logins >= 2, "the tablet logged in again"));
      await eventually(() => assert.equal(tablet.unique.size, expected.length), 15_000);
      assert.deepEqual(
        texts([...tablet.unique.values()]),
        expected,
        "in order across the reconnect",
      );
    },
  );

  it("`__proto__` and `constructor`: stored while offline, replayed after log in, and after `since`", async () => {
    const [urlA, urlB] = target().urls;
    const senderName = uniqueName("sender");
    const sender = await connectAs(urlA, senderName);
    for (const name of ["__proto__", "constructor"]) {
      await eventually(async () => {
        const answer = await listUsers(sender);
        assert.ok(answer.ok && !answer.users.includes(name), `${name} still online`);
      });
      const tag = uniqueName("p");
      const sent: string[] = [];
      for (const text of [`${tag}-1`, `${tag}-2`]) {
        const answer = await send(sender, name, text);
        assert.ok(answer.ok && answer.status === "stored", JSON.stringify(answer));
        sent.push(answer.id);
      }
      const mine = (m: NewMessage[]) => m.filter((x) => x.message.startsWith(`${tag}-`));
      const back = await connectAs(urlB, name);
      const replayed = mine(await waitForMessages(back, (m) => mine(m).length >= 2));
      assert.deepEqual(
        replayed.map((m) => [m.id, m.from, m.to, m.message]),
        [
          [sent[0], senderName, name, `${tag}-1`],
          [sent[1], senderName, name, `${tag}-2`],
        ],
      );
      back.disconnect();
      // `since` the first: the second comes again.
      const again = await connectAs(urlA, name, { since: sent[0] });
      await waitForMessages(again, (m) => m.some((x) => x.id === sent[1]));
      again.disconnect();
    }
  });

  it("an inbox keeps at least the newest 1000 messages, replayed oldest first after log in", async () => {
    const { urls, inboxTtlSeconds } = target();
    const [alice, carol] = [uniqueName("alice"), uniqueName("carol")];
    const sender = await connectAs(urls[0], alice, { transport: "websocket" });
    const count = 1005;
    const ids: string[] = [];
    for (let start = 0; start < count; start += 250) {
      const batch = Array.from({ length: Math.min(250, count - start) }, (_, i) => `r${start + i}`);
      const answers = await Promise.all(batch.map((text) => send(sender, carol, text)));
      for (const answer of answers) {
        assert.ok(answer.ok && answer.status === "stored", JSON.stringify(answer));
        ids.push(answer.id);
      }
    }
    const newest = Array.from({ length: 1000 }, (_, i) => `r${count - 1000 + i}`);
    const back = await connectAs(urls[1], carol, { transport: "websocket" });
    const got = await waitForMessages(back, (m) => m.at(-1)?.message === `r${count - 1}`, 20_000);
    // More than 1000 may be kept; the newest 1000 must all be there, oldest first.
    assert.deepEqual(texts(got).slice(-1000), newest);
    const numbers = texts(got).map((t) => Number(t.slice(1)));
    assert.deepEqual(
      numbers,
      [...numbers].sort((x, y) => x - y),
      "oldest first",
    );
    if (inboxTtlSeconds) {
      const ttl = await inboxTtlSeconds(carol);
      assert.ok(ttl >= SEVEN_DAYS_S - 60, `inbox expires in ${ttl} s, under 7 days`);
    }
  });
}
