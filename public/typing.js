// "is typing…": hints sent at most every 2 s while this user types to someone, and shown for
// 4 s after each hint from the person whose conversation is open. Hints are never stored.

import { ACK_TIMEOUT_MS, state, USERNAME } from "./state.js";
import { render } from "./view.js";

const SEND_EVERY_MS = 2_000;
const SHOW_FOR_MS = 4_000;

/** When a hint last went to each person. */
const sentAt = new Map();
/** Until when each person is shown as typing. */
const typingUntil = new Map();
const timers = new Map();

/** The user typed in the composer: tell the recipient, at most once per 2 s. */
export function typed(peer) {
  const session = state.session;
  if (!session?.loggedIn || !peer || !USERNAME.test(peer) || peer === session.user) return;
  const now = Date.now();
  if (now - (sentAt.get(peer) ?? 0) < SEND_EVERY_MS) return;
  sentAt.set(peer, now);
  // A hint: an error or no answer changes nothing.
  session.socket
    .timeout(ACK_TIMEOUT_MS)
    .emitWithAck("typing", { username: peer })
    .catch(() => {});
}

/** The server's `typing` event: `from` is typing to this user. */
export function onTyping(event) {
  const from = event?.from;
  if (typeof from !== "string" || !USERNAME.test(from)) return;
  typingUntil.set(from, Date.now() + SHOW_FOR_MS);
  clearTimeout(timers.get(from));
  timers.set(
    from,
    setTimeout(() => stopTyping(from), SHOW_FOR_MS),
  );
  render();
}

/** `from`'s message arrived (or they left): no longer typing. */
export function stopTyping(from) {
  clearTimeout(timers.get(from));
  timers.delete(from);
  if (typingUntil.delete(from)) render();
}

export function isTyping(peer) {
  return (typingUntil.get(peer) ?? 0) > Date.now();
}
