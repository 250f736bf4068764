// The page's state: who is logged in (with their remembered data), whose conversation is open,
// who is online; and the helpers that read and change one user's conversations.

import { loadData, local, mergeData, serialize } from "./store.js";

export const USERNAME = /^[A-Za-z0-9_.-]{1,32}$/;
export const ACK_TIMEOUT_MS = 10_000;

export const state = {
  /** The logged-in session, or null before log in. */
  session: null,
  /** The username whose conversation is shown, or null. */
  activePeer: null,
  /** Watched people online now (kept by `watch` answers and `presence` events). */
  online: new Set(),
};

/** The smallest message id: `since` it, a device with no history gets all the server keeps. */
export const FIRST_ID = "0-0";

export function save() {
  const { session } = state;
  if (!session) return;
  const key = `user:${session.user}`;
  session.data = mergeData(loadData(session.user), session.data);
  local.write(key, serialize(session.data));
}

/** Drops the remembered last id (written directly: a merge would bring it back). */
export function forgetLastId() {
  const { session } = state;
  session.data.last = null;
  local.write(`user:${session.user}`, serialize(session.data));
}

export function conversation(peer) {
  const data = state.session.data;
  let conv = data.conversations.get(peer);
  if (!conv) {
    conv = { readAt: 0, messages: [] };
    data.conversations.set(peer, conv);
  }
  return conv;
}

export function findRecord(peer, key) {
  return state.session?.data.conversations.get(peer)?.messages.find((m) => m.key === key);
}

export function unreadCount(peer) {
  const conv = state.session?.data.conversations.get(peer);
  if (!conv) return 0;
  return conv.messages.filter((m) => m.dir === "in" && m.at > conv.readAt).length;
}

export function markRead(peer) {
  const conv = state.session?.data.conversations.get(peer);
  if (!conv || unreadCount(peer) === 0) return;
  conv.readAt = Date.now();
  save();
}
