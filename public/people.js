// Who is online, without polling: the people this user talks to (every conversation, the open
// recipient, whoever writes) and those online when the session logged in, followed with `watch`
// and the server's `presence` events. The server forgets watches with the connection, so every
// log in (reconnects too) watches them all again.

import { ACK_TIMEOUT_MS, state, USERNAME } from "./state.js";
import { render } from "./view.js";

/** The server's limits: names per `watch` call, and watched per connection. */
const PER_CALL = 500;
const MAX_WATCHED = 1000;

/** After a log in: ask once who is online, then watch them and every conversation's peer. */
export async function startPresence() {
  const session = state.session;
  if (!session?.loggedIn) return;
  session.watched = new Set();
  state.online = new Set();
  // The people this user talks to first: they keep their place under the limit.
  watch([state.activePeer, ...session.data.conversations.keys()]);
  discover();
}

/**
 * Asks once who is online and watches those not watched yet: after log in, and when the user
 * comes back to the page (never on a timer).
 */
export async function discover() {
  const session = state.session;
  if (!session?.loggedIn) return;
  let users = [];
  try {
    const answer = await session.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("list users", {});
    if (answer?.ok) users = answer.users;
  } catch {
    // the conversations' people are watched all the same
  }
  if (state.session === session) watch(users);
}

/** Starts following these people's presence (those not followed yet, up to the limit). */
export async function watch(names) {
  const session = state.session;
  if (!session?.loggedIn || !session.watched) return;
  const fresh = [];
  for (const name of names) {
    if (session.watched.size + fresh.length >= MAX_WATCHED) break;
    if (typeof name === "string" && USERNAME.test(name) && name !== session.user) {
      if (!session.watched.has(name) && !fresh.includes(name)) fresh.push(name);
    }
  }
  for (const name of fresh) session.watched.add(name);
  for (let i = 0; i < fresh.length; i += PER_CALL) {
    const batch = fresh.slice(i, i + PER_CALL);
    let answer;
    try {
      answer = await session.socket
        .timeout(ACK_TIMEOUT_MS)
        .emitWithAck("watch", { usernames: batch });
    } catch {
      answer = undefined;
    }
    if (state.session !== session) return;
    if (!answer?.ok) {
      // Asked again on the next call or log in.
      for (const name of batch) session.watched.delete(name);
      continue;
    }
    for (const name of answer.online) state.online.add(name);
    render();
  }
}

/** The server's `presence` event: a watched person came online or went offline. */
export function onPresence(event) {
  if (!state.session || typeof event?.username !== "string") return;
  if (event.online) state.online.add(event.username);
  else state.online.delete(event.username);
  render();
}
