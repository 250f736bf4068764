// The session with the server: starting and ending it, the Socket.IO connection, logging in
// (with `since: <last id>`, again after every reconnect) and the connection line.

/* global io */

import { mostRecentPeer, openConversation } from "./conversations.js";
import { errorWords } from "./errors.js";
import { receive } from "./messages.js";
import { Outbox } from "./outbox.js";
import { onPresence, startPresence } from "./people.js";
import { ACK_TIMEOUT_MS, FIRST_ID, forgetLastId, state } from "./state.js";
import { loadData, local, rank, TAB, tabStore } from "./store.js";
import { onTyping } from "./typing.js";
import { hideLoginError, showLoginError, showNotice, ui } from "./ui.js";
import { render } from "./view.js";

/**
 * WebSocket first, long-polling if a WebSocket cannot be opened (a proxy that blocks it): a
 * WebSocket session is one connection, which the server's workers take without any hand-off,
 * where polling sends every request on a new connection that must be routed to its worker.
 * `?transport=polling|websocket` in the address forces one.
 */
function transportOptions() {
  const wanted = new URLSearchParams(location.search).get("transport");
  if (wanted === "polling" || wanted === "websocket") return { transports: [wanted] };
  return { transports: ["websocket", "polling"], tryAllTransports: true };
}

export function startSession(user, token) {
  endSession();
  const data = loadData(user);
  state.session = {
    user,
    token: token || undefined,
    data,
    seen: new Set(data.seen),
    outbox: new Outbox(logIn),
    socket: null,
    loggedIn: false,
    everLoggedIn: false,
    /** Who this connection watches (see people.js). */
    watched: new Set(),
  };
  local.write("session", { user });
  tabStore.write("token", token || null);
  document.body.dataset.auth = "in";
  ui.loginUsername.value = user;
  ui.logout.hidden = false;
  ui.loginSubmit.textContent = "Switch user";
  hideLoginError();

  // Messages this tab wrote but the server never answered (the page was closed or reloaded).
  for (const [peer, conv] of data.conversations) {
    for (const record of conv.messages) {
      if (record.dir === "out" && rank(record) === 0 && record.owner === TAB) {
        record.status = "waiting";
        state.session.outbox.enqueue(peer, record.key);
      }
    }
  }

  const remembered = tabStore.read(`active:${user}`);
  openConversation(remembered ?? mostRecentPeer(), { focus: false });
  connect();
}

function connect() {
  const socket = io({ autoConnect: false, reconnectionDelayMax: 5000, ...transportOptions() });
  state.session.socket = socket;
  socket.on("connect", () => {
    showTransport();
    socket.io.engine.on("upgrade", showTransport);
    logIn();
  });
  socket.on("disconnect", (reason) => {
    const { session } = state;
    if (!session || session.socket !== socket) return;
    session.loggedIn = false;
    session.outbox.pause();
    setConnection("reconnecting");
    // The server ended this session on purpose (a worker draining, say): come straight back.
    if (reason === "io server disconnect") socket.connect();
  });
  socket.on("connect_error", () => {
    const { session } = state;
    if (session?.socket === socket)
      setConnection(session.everLoggedIn ? "reconnecting" : "connecting");
  });
  socket.on("new message", receive);
  socket.on("presence", onPresence);
  socket.on("typing", onTyping);
  socket.on("chat error", (error) => showNotice(errorWords(error), "error"));
  setConnection("connecting");
  socket.connect();
}

async function logIn() {
  if (!state.session) return;
  const { socket, user, token } = state.session;
  const payload = { username: user };
  if (token) payload.token = token;
  // Every message kept after the last one seen, both directions: with no history yet (a new
  // device, cleared storage), everything kept, so every device shows the same conversations.
  payload.since = state.session.data.last?.id ?? FIRST_ID;
  let answer;
  try {
    answer = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("log in", payload);
  } catch {
    // No answer: try again on this connection, or on the next one.
    if (state.session?.socket === socket && socket.connected) setTimeout(logIn, 1000);
    return;
  }
  const { session } = state;
  if (session?.socket !== socket) return;
  if (answer?.ok) {
    session.loggedIn = true;
    session.everLoggedIn = true;
    setConnection("connected");
    session.outbox.resume();
    startPresence();
    return;
  }
  const code = answer?.error?.code;
  if (code === "INVALID_USERNAME" || code === "UNAUTHORIZED" || code === "ALREADY_LOGGED_IN") {
    local.remove("session");
    endSession();
    showLoginError(errorWords(answer.error));
    return;
  }
  if (code === "INVALID_PAYLOAD" && payload.since !== FIRST_ID) {
    forgetLastId(); // an id this server does not know: log in without it
  } else {
    showNotice(errorWords(answer?.error), "warn");
  }
  setTimeout(() => {
    const current = state.session;
    if (current?.socket === socket && socket.connected && !current.loggedIn) logIn();
  }, 2000);
}

export function endSession({ logOut = false } = {}) {
  if (!state.session) return;
  const { socket, outbox } = state.session;
  outbox.pause();
  state.session = null;
  if (socket) {
    socket.off();
    if (logOut && socket.connected) {
      socket
        .timeout(1000)
        .emitWithAck("log out")
        .catch(() => {})
        .finally(() => socket.disconnect());
    } else {
      socket.disconnect();
    }
  }
  state.activePeer = null;
  state.online = new Set();
  ui.logout.hidden = true;
  ui.loginSubmit.textContent = "Log in";
  document.body.dataset.auth = "out";
  setConnection("offline");
  render();
}

function setConnection(connectionState) {
  const words = {
    offline: "Not connected",
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting… (messages you write will wait)",
  };
  ui.connection.dataset.state = connectionState;
  ui.connection.textContent = words[connectionState];
  if (connectionState !== "connected") delete ui.connection.dataset.transport;
  else showTransport();
}

function showTransport() {
  const name = state.session?.socket?.io.engine?.transport?.name;
  if (!name) return;
  ui.connection.dataset.transport = name;
  ui.connection.title =
    name === "polling" ? "Connected over HTTP long-polling" : `Connected over ${name}`;
}
