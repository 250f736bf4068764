// Drawing the page from the state: the people lists, the open conversation, the tab's title.

import { FAILED_WORDS } from "./errors.js";
import { state, unreadCount } from "./state.js";
import { TAB } from "./store.js";
import { isTyping } from "./typing.js";
import { ui } from "./ui.js";

/** What a click on a person does (set by the entry module: it opens their conversation). */
let pick = () => {};

export function onPick(handler) {
  pick = handler;
}

export function render() {
  renderPeople();
  renderMessages();
  const { session } = state;
  const unread = session
    ? [...session.data.conversations.keys()].reduce((n, p) => n + unreadCount(p), 0)
    : 0;
  document.title = unread > 0 ? `(${unread}) chat-server` : "chat-server";
}

function personButton(peer, { online, unread }) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.user = peer;
  if (peer === state.activePeer) button.setAttribute("aria-current", "true");
  const name = document.createElement("span");
  name.className = online ? "name online" : "name";
  name.textContent = peer === state.session?.user ? `${peer} (you)` : peer;
  button.append(name);
  if (unread > 0) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = String(unread);
    badge.setAttribute("aria-label", `${unread} unread`);
    button.append(badge);
  }
  button.addEventListener("click", () => pick(peer));
  li.append(button);
  return li;
}

function renderPeople() {
  const { session, online } = state;
  if (!session) {
    ui.userList.replaceChildren();
    ui.conversationList.replaceChildren();
    return;
  }
  const others = [...online].filter((u) => u !== session.user).sort();
  ui.userList.replaceChildren(
    ...others.map((u) => personButton(u, { online: true, unread: unreadCount(u) })),
  );
  ui.userListEmpty.hidden = others.length > 0;
  ui.onlineCount.textContent = others.length ? `(${others.length})` : "";

  const peers = [...session.data.conversations]
    .filter(([, conv]) => conv.messages.length > 0)
    .sort(([, a], [, b]) => (b.messages.at(-1)?.at ?? 0) - (a.messages.at(-1)?.at ?? 0))
    .map(([peer]) => peer);
  ui.conversationList.replaceChildren(
    ...peers.map((p) => personButton(p, { online: online.has(p), unread: unreadCount(p) })),
  );
  ui.conversationListEmpty.hidden = peers.length > 0;
}

function timeOf(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function metaOf(record) {
  const time = timeOf(record.sentAt ?? record.at);
  if (record.dir === "in") return time;
  switch (record.status) {
    case "sending":
      return `${time} · Sending…`;
    case "waiting":
      return record.owner === TAB
        ? `${time} · Waiting for the connection…`
        : `${time} · Sending from another tab…`;
    case "delivered":
      return `${time} · Delivered`;
    case "sent":
      return `${time} · Sent from another device`;
    case "stored":
      return `${time} · ${record.to} is offline; they will get it when they log in`;
    case "failed":
      return `${time} · ${FAILED_WORDS[record.error] ?? "Not sent"}`;
    default:
      return time;
  }
}

function renderMessages() {
  const { session, activePeer, online } = state;
  const list = ui.messageList;
  const conv = activePeer && session ? session.data.conversations.get(activePeer) : undefined;
  const messages = conv?.messages ?? [];
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  list.replaceChildren(
    ...messages.map((record) => {
      const li = document.createElement("li");
      li.className = `msg ${record.dir}`;
      li.dataset.key = record.key;
      if (record.id) li.dataset.id = record.id;
      if (record.status) li.dataset.status = record.status;
      li.dataset.meta = metaOf(record);
      li.title = new Date(record.sentAt ?? record.at).toLocaleString();
      li.textContent = record.text;
      return li;
    }),
  );
  if (nearBottom) list.scrollTop = list.scrollHeight;

  const typing = Boolean(session && activePeer && isTyping(activePeer));
  ui.typingIndicator.hidden = !typing;
  ui.typingIndicator.textContent = typing ? `${activePeer} is typing…` : "";
  if (!session) return;
  if (!activePeer) {
    ui.chatHint.textContent = "Pick someone on the left, or type a name in “To”.";
  } else if (messages.length === 0) {
    ui.chatHint.textContent = `No messages with ${activePeer} yet. Say hello!`;
  } else {
    ui.chatHint.textContent = "";
  }
  ui.peerStatus.textContent = !activePeer
    ? ""
    : online.has(activePeer)
      ? "online"
      : "offline: messages wait for them";
}
