// chat-server web client: plain JavaScript in native ES modules, no build step, on the
// Socket.IO client that the server itself serves at /socket.io/socket.io.min.js (loaded before
// this module as `io`). This entry module wires the page's controls to the modules:
//   store.js          what is kept in localStorage / sessionStorage, and merging it
//   state.js          the session, the open conversation, who is online
//   connection.js     the session's Socket.IO connection and logging in
//   outbox.js         sending in order, with retries
//   messages.js       receiving (once each) and writing messages
//   people.js         who is online (watch + presence events, no polling)
//   typing.js         "is typing…", both ways
//   conversations.js  which conversation is open
//   view.js, ui.js    drawing the page; errors.js: error codes in words
//
// What it keeps in localStorage, per user: each conversation's messages, when each
// conversation was last read, the ids already shown, and the last message id received. After
// every reconnect or reload it logs in with `since: <last id>`, so the server sends again what
// came after it, and drops what it has already shown. Several tabs share that store safely:
// every save merges with what the others wrote. Addresses: `?transport=polling` or
// `?transport=websocket` forces one transport (the default tries polling, then upgrades).

import { endSession, startSession } from "./connection.js";
import { openConversation } from "./conversations.js";
import { ERROR_WORDS } from "./errors.js";
import { send } from "./messages.js";
import { discover } from "./people.js";
import { markRead, state, USERNAME } from "./state.js";
import { loadData, local, mergeData, STORE, tabStore } from "./store.js";
import { typed } from "./typing.js";
import { showLoginError, ui } from "./ui.js";
import { onPick, render } from "./view.js";

onPick((peer) => openConversation(peer));

ui.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const user = ui.loginUsername.value.trim();
  if (!USERNAME.test(user)) {
    showLoginError(ERROR_WORDS.INVALID_USERNAME);
    ui.loginUsername.focus();
    return;
  }
  const token = ui.loginToken.value.trim();
  const { session } = state;
  // Logging in again as the same user keeps the session (and reconnects if it is down).
  if (session && session.user === user && (!token || token === session.token)) {
    if (!session.socket.connected) session.socket.connect();
    return;
  }
  startSession(user, token || (session?.user === user ? session.token : undefined));
});

ui.logout.addEventListener("click", () => {
  local.remove("session");
  tabStore.write("token", null);
  endSession({ logOut: true });
  ui.loginUsername.focus();
});

ui.recipient.addEventListener("input", () => {
  const peer = ui.recipient.value.trim();
  if (peer === "" || USERNAME.test(peer)) openConversation(peer || null, { focus: false });
});

ui.recipient.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    ui.messageInput.focus();
  }
});

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

ui.messageInput.addEventListener("input", () => {
  if (ui.messageInput.value.trim() !== "") typed(state.activePeer);
});

ui.messageInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden || !state.session) return;
  if (state.activePeer) markRead(state.activePeer);
  discover();
  render();
});

// Another tab of this user saved: take in what it wrote.
window.addEventListener("storage", (event) => {
  const { session } = state;
  if (!session || event.key !== `${STORE}user:${session.user}`) return;
  session.data = mergeData(loadData(session.user), session.data);
  for (const id of session.data.seen) session.seen.add(id);
  render();
});

// ---- start ----------------------------------------------------------------------------------

const remembered = local.read("session");
if (remembered && typeof remembered.user === "string" && USERNAME.test(remembered.user)) {
  startSession(remembered.user, tabStore.read("token") ?? undefined);
} else {
  ui.loginUsername.focus();
  render();
}
