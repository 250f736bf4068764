// Messages into a conversation: one received from the server (shown once, however often it
// comes), and one written here (put in the outbox).

import { openConversation } from "./conversations.js";
import { watch } from "./people.js";
import { conversation, save, state, USERNAME } from "./state.js";
import { SEEN_IDS_KEPT, TAB } from "./store.js";
import { stopTyping } from "./typing.js";
import { showNotice, ui } from "./ui.js";
import { render } from "./view.js";

export function receive(message) {
  const { session } = state;
  if (!session || !message || typeof message.id !== "string") return;
  const { data, seen } = session;
  if (seen.has(message.id)) return;
  seen.add(message.id);
  data.seen.push(message.id);
  if (data.seen.length > SEEN_IDS_KEPT) data.seen.splice(0, data.seen.length - SEEN_IDS_KEPT);
  const now = Date.now();
  data.last = { id: message.id, at: now };
  // A message this user sent: from another device, or from here (a `since` replay).
  const mine = message.from === session.user && message.to !== session.user;
  const peer = mine ? message.to : message.from;
  const conv = conversation(peer);
  if (mine && conv.messages.some((record) => record.id === message.id)) {
    save();
    return;
  }
  conv.messages.push({
    key: `${mine ? "sent" : "in"}:${message.id}`,
    dir: mine ? "out" : "in",
    id: message.id,
    from: message.from,
    to: message.to,
    text: String(message.message),
    sentAt: message.sentAt,
    at: now,
    ...(mine ? { status: "sent" } : {}),
  });
  if (!mine) stopTyping(peer);
  // Nothing open yet: open this conversation.
  if (state.activePeer === null) openConversation(peer, { focus: false });
  if (peer === state.activePeer && !document.hidden) conversation(peer).readAt = now;
  if (!session.watched?.has(peer)) watch([peer]);
  save();
  render();
}

export function send() {
  const { session } = state;
  if (!session) return;
  const peer = ui.recipient.value.trim();
  const text = ui.messageInput.value;
  if (!USERNAME.test(peer)) {
    showNotice(peer ? `"${peer}" is not a valid name.` : "Choose who to write to first.", "error");
    ui.recipient.focus();
    return;
  }
  if (text.trim() === "") return;
  if (peer !== state.activePeer) openConversation(peer, { focus: false });
  const record = {
    key: `out:${TAB}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`,
    dir: "out",
    from: session.user,
    to: peer,
    text,
    at: Date.now(),
    status: session.loggedIn ? "sending" : "waiting",
    owner: TAB,
  };
  conversation(peer).messages.push(record);
  ui.messageInput.value = "";
  save();
  render();
  session.outbox.enqueue(peer, record.key);
}
