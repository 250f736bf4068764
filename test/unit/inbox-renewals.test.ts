import assert from "node:assert/strict";
import { test } from "node:test";
import { InboxRenewals, keepMs, renewEveryMs } from "../../src/inbox/inbox-renewals.js";

const WEEK = 7 * 24 * 3600 * 1000;

test("a 7-day inbox is renewed once an hour, to 7 days and 1 hour", () => {
  assert.equal(renewEveryMs({ ttlMs: WEEK }), 3_600_000);
  assert.equal(keepMs({ ttlMs: WEEK }), WEEK + 3_600_000);
});

test("each user's inbox is due once per period, and again after forget()", () => {
  let now = 1_000_000;
  const renewals = new InboxRenewals({ ttlMs: WEEK }, () => now);
  assert.equal(renewals.due("ann"), true);
  assert.equal(renewals.due("ann"), false);
  assert.equal(renewals.due("ben"), true);
  now += 3_599_999;
  assert.equal(renewals.due("ann"), false, "within the hour");
  now += 1;
  assert.equal(renewals.due("ann"), true, "a new period");
  assert.equal(renewals.due("ann"), false);
  renewals.forget();
  assert.equal(renewals.due("ann"), true, "after forget()");
});
