// chat-server web client: plain JavaScript, no build step, on the Socket.IO client that the
// server itself serves at /socket.io/socket.io.min.js (loaded before this module as `io`).
//
// What it keeps in localStorage, per user: each conversation's messages, when each
// conversation was last read, the ids already shown, and the last message id received. After
// every reconnect or reload it logs in with `since: <last id>`, so the server sends again what
// came after it, and drops what it has already shown. Several tabs share that store safely:
// every save merges with what the others wrote. Addresses: `?transport=polling` or
// `?transport=websocket` forces one transport (the default tries polling, then upgrades).

/* global io */

const USERNAME = /^[A-Za-z0-9_.-]{1,32}$/;
const ACK_TIMEOUT_MS = 10_000;
const USER_POLL_MS = 4_000;
const HISTORY_PER_CONVERSATION = 500;
const SEEN_IDS_KEPT = 2_000;
const STORE = "chat-server:v1:";

/** Each error code in words a person understands. */
const ERROR_WORDS = {
  INVALID_USERNAME:
    "That is not a valid name. Use 1 to 32 letters, digits, dots, dashes or underscores.",
  UNAUTHORIZED: "This server needs a valid token for that name. Paste your token and try again.",
  NOT_LOGGED_IN: "You were logged out by the server. Logging in again…",
  INVALID_PAYLOAD: "The server could not read that message.",
  MESSAGE_TOO_LARGE: "That message is too long for this server. Shorten it or split it up.",
  RATE_LIMITED: "You are sending messages too fast. The rest will go out in a moment.",
  UNAVAILABLE: "The server cannot store messages right now. Trying again shortly…",
  ALREADY_LOGGED_IN: "This connection is already logged in under another name. Reload the page.",
  UNKNOWN_EVENT: "The server did not understand a request from this page. Reload the page.",
};

function errorWords(error) {
  return ERROR_WORDS[error?.code] ?? error?.message ?? "Something went wrong. Please try again.";
}

/** Why a message was not sent, short enough to sit under it. */
const FAILED_WORDS = {
  INVALID_USERNAME: "Not sent: that is not a valid name",
  INVALID_PAYLOAD: "Not sent: the server could not read it",
  MESSAGE_TOO_LARGE: "Not sent: too long for this server",
  UNAVAILABLE: "Not sent: the server could not store it. Send it again later",
  UNAUTHORIZED: "Not sent: not allowed",
};

const $ = (id) => document.getElementById(id);
const ui = {
  loginForm: $("login-form"),
  loginUsername: $("login-username"),
  loginToken: $("login-token"),
  loginSubmit: $("login-submit"),
  loginError: $("login-error"),
  connection: $("connection"),
  logout: $("logout"),
  notice: $("notice"),
  userList: $("user-list"),
  userListEmpty: $("user-list-empty"),
  onlineCount: $("online-count"),
  conversationList: $("conversation-list"),
  conversationListEmpty: $("conversation-list-empty"),
  recipient: $("recipient"),
  peerStatus: $("peer-status"),
  messageList: $("message-list"),
  chatHint: $("chat-hint"),
  composer: $("composer"),
  messageInput: $("message-input"),
};

// ---- storage --------------------------------------------------------------------------------

const local = {
  read(key) {
    try {
      return JSON.parse(localStorage.getItem(STORE + key) ?? "null");
    } catch {
      return null;
    }
  },
  write(key, value) {
    try {
      localStorage.setItem(STORE + key, JSON.stringify(value));
    } catch {
      // full or disabled storage: the chat still works, it just forgets on reload
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(STORE + key);
    } catch {}
  },
};

const tabStore = {
  read(key) {
    try {
      return sessionStorage.getItem(STORE + key);
    } catch {
      return null;
    }
  },
  write(key, value) {
    try {
      if (value === null || value === undefined) sessionStorage.removeItem(STORE + key);
      else sessionStorage.setItem(STORE + key, value);
    } catch {}
  },
};

/** This tab's id (kept across reloads of the tab): whose unsent messages are whose. */
const TAB =
  tabStore.read("tab") ??
  (() => {
    const id = Math.random().toString(36).slice(2);
    tabStore.write("tab", id);
    return id;
  })();

/**
 * One user's remembered state. Conversations are a Map (usernames such as `__proto__` are
 * ordinary names), stored as a list of entries.
 *   last: { id, at } | null      the last message id received, and when
 *   seen: string[]              ids already shown (to drop duplicates)
 *   conversations: Map<peer, { readAt, messages: record[] }>
 * A record: { key, dir: "in" | "out", from, to, text, at, id?, sentAt?, status?, error?, owner? }
 */
function emptyData() {
  return { last: null, seen: [], conversations: new Map() };
}

function loadData(user) {
  const raw = local.read(`user:${user}`);
  if (!raw || typeof raw !== "object") return emptyData();
  const conversations = new Map();
  for (const entry of Array.isArray(raw.conversations) ? raw.conversations : []) {
    if (!Array.isArray(entry) || typeof entry[0] !== "string" || !entry[1]) continue;
    const messages = Array.isArray(entry[1].messages) ? entry[1].messages : [];
    conversations.set(entry[0], { readAt: Number(entry[1].readAt) || 0, messages });
  }
  return {
    last: raw.last && typeof raw.last.id === "string" ? raw.last : null,
    seen: Array.isArray(raw.seen) ? raw.seen.filter((id) => typeof id === "string") : [],
    conversations,
  };
}

function serialize(data) {
  return { last: data.last, seen: data.seen, conversations: [...data.conversations] };
}

/** An answered message outranks one still waiting, so merging never undoes a status. */
function rank(record) {
  return record.dir === "out" && (record.status === "sending" || record.status === "waiting")
    ? 0
    : 1;
}

/** Both lists, one record per key (on a tie, `b`'s), oldest first, the newest kept. */
function mergeMessages(a, b) {
  const byKey = new Map();
  for (const record of [...a, ...b]) {
    const known = byKey.get(record.key);
    if (!known || rank(record) >= rank(known)) byKey.set(record.key, record);
  }
  return [...byKey.values()].sort((x, y) => x.at - y.at).slice(-HISTORY_PER_CONVERSATION);
}

function mergeData(a, b) {
  const conversations = new Map();
  for (const peer of new Set([...a.conversations.keys(), ...b.conversations.keys()])) {
    const x = a.conversations.get(peer) ?? { readAt: 0, messages: [] };
    const y = b.conversations.get(peer) ?? { readAt: 0, messages: [] };
    conversations.set(peer, {
      readAt: Math.max(x.readAt, y.readAt),
      messages: mergeMessages(x.messages, y.messages),
    });
  }
  const last = !a.last ? b.last : !b.last ? a.last : b.last.at >= a.last.at ? b.last : a.last;
  const seen = [...new Set([...a.seen, ...b.seen])].slice(-SEEN_IDS_KEPT);
  return { last, seen, conversations };
}

// ---- state ----------------------------------------------------------------------------------

/** The logged-in session, or null before log in. */
let session = null;
/** The username whose conversation is shown, or null. */
let activePeer = null;
let onlineUsers = [];
let noticeTimer;

function save() {
  if (!session) return;
  const key = `user:${session.user}`;
  session.data = mergeData(loadData(session.user), session.data);
  local.write(key, serialize(session.data));
}

/** Drops the remembered last id (written directly: a merge would bring it back). */
function forgetLastId() {
  session.data.last = null;
  local.write(`user:${session.user}`, serialize(session.data));
}

function conversation(peer) {
  const data = session.data;
  let conv = data.conversations.get(peer);
  if (!conv) {
    conv = { readAt: 0, messages: [] };
    data.conversations.set(peer, conv);
  }
  return conv;
}

function findRecord(peer, key) {
  return session?.data.conversations.get(peer)?.messages.find((m) => m.key === key);
}

function unreadCount(peer) {
  const conv = session?.data.conversations.get(peer);
  if (!conv) return 0;
  return conv.messages.filter((m) => m.dir === "in" && m.at > conv.readAt).length;
}

function markRead(peer) {
  const conv = session?.data.conversations.get(peer);
  if (!conv || unreadCount(peer) === 0) return;
  conv.readAt = Date.now();
  save();
}

// ---- outbox: one message at a time, in order, only while logged in ---------------------------

/**
 * Messages leave the queue when the server answers. Without an answer (connection lost, timed
 * out) they go again after the next log in; RATE_LIMITED and UNAVAILABLE are retried after a
 * pause; other errors mark the message as not sent.
 */
class Outbox {
  constructor() {
    this.queue = [];
    this.open = false;
    this.busy = false;
    this.generation = 0;
    this.timer = undefined;
  }

  enqueue(peer, key) {
    this.queue.push({ peer, key, attempts: 0, unavailable: 0 });
    this.pump();
  }

  resume() {
    this.open = true;
    this.pump();
  }

  pause() {
    this.open = false;
    this.busy = false;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  pump() {
    if (!this.open || this.busy || this.timer !== undefined || !session) return;
    const item = this.queue[0];
    if (!item) return;
    const record = findRecord(item.peer, item.key);
    if (!record) {
      this.queue.shift();
      this.pump();
      return;
    }
    this.busy = true;
    item.attempts++;
    setStatus(record, "sending");
    const generation = this.generation;
    session.socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck("send message", { username: item.peer, message: record.text })
      .then(
        (answer) => this.answered(generation, item, answer),
        () => this.answered(generation, item, undefined),
      );
  }

  answered(generation, item, answer) {
    if (generation !== this.generation) return; // connection lost meanwhile: sent again later
    this.busy = false;
    const record = findRecord(item.peer, item.key);
    const code = answer && !answer.ok ? answer.error?.code : undefined;
    if (!answer || code === "RATE_LIMITED" || (code === "UNAVAILABLE" && item.unavailable++ < 5)) {
      if (code) showNotice(ERROR_WORDS[code], "warn");
      const delay = Math.min(5000, 250 * 2 ** (item.attempts - 1));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, delay);
      return;
    }
    if (code === "NOT_LOGGED_IN") {
      this.open = false;
      logIn();
      return;
    }
    this.queue.shift();
    if (record) {
      if (answer.ok) {
        record.id = answer.id;
        setStatus(record, answer.status);
      } else {
        record.error = answer.error?.code ?? "UNKNOWN";
        setStatus(record, "failed");
        showNotice(errorWords(answer.error), "error");
      }
    }
    this.pump();
  }
}

function setStatus(record, status) {
  record.status = status;
  save();
  render();
}

// ---- connection -----------------------------------------------------------------------------

function transportsFromAddress() {
  const wanted = new URLSearchParams(location.search).get("transport");
  return wanted === "polling" || wanted === "websocket" ? [wanted] : undefined;
}

function startSession(user, token) {
  endSession();
  const data = loadData(user);
  session = {
    user,
    token: token || undefined,
    data,
    seen: new Set(data.seen),
    outbox: new Outbox(),
    socket: null,
    loggedIn: false,
    everLoggedIn: false,
    pollTimer: undefined,
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
        session.outbox.enqueue(peer, record.key);
      }
    }
  }

  const remembered = tabStore.read(`active:${user}`);
  openConversation(remembered ?? mostRecentPeer(), { focus: false });
  connect();
}

function mostRecentPeer() {
  let best = null;
  let bestAt = -1;
  for (const [peer, conv] of session.data.conversations) {
    const at = conv.messages.at(-1)?.at ?? -1;
    if (at > bestAt) [best, bestAt] = [peer, at];
  }
  return best;
}

function connect() {
  const transports = transportsFromAddress();
  const socket = io({
    autoConnect: false,
    reconnectionDelayMax: 5000,
    ...(transports ? { transports } : {}),
  });
  session.socket = socket;
  socket.on("connect", () => {
    showTransport();
    socket.io.engine.on("upgrade", showTransport);
    logIn();
  });
  socket.on("disconnect", (reason) => {
    if (!session || session.socket !== socket) return;
    session.loggedIn = false;
    session.outbox.pause();
    setConnection("reconnecting");
    // The server ended this session on purpose (a worker draining, say): come straight back.
    if (reason === "io server disconnect") socket.connect();
  });
  socket.on("connect_error", () => {
    if (session?.socket === socket)
      setConnection(session.everLoggedIn ? "reconnecting" : "connecting");
  });
  socket.on("new message", receive);
  socket.on("chat error", (error) => showNotice(errorWords(error), "error"));
  setConnection("connecting");
  socket.connect();
}

async function logIn() {
  if (!session) return;
  const { socket, user, token } = session;
  const payload = { username: user };
  if (token) payload.token = token;
  if (session.data.last) payload.since = session.data.last.id;
  let answer;
  try {
    answer = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("log in", payload);
  } catch {
    // No answer: try again on this connection, or on the next one.
    if (session?.socket === socket && socket.connected) setTimeout(logIn, 1000);
    return;
  }
  if (session?.socket !== socket) return;
  if (answer?.ok) {
    session.loggedIn = true;
    session.everLoggedIn = true;
    setConnection("connected");
    session.outbox.resume();
    refreshUsers();
    clearInterval(session.pollTimer);
    session.pollTimer = setInterval(() => {
      if (!document.hidden) refreshUsers();
    }, USER_POLL_MS);
    return;
  }
  const code = answer?.error?.code;
  if (code === "INVALID_USERNAME" || code === "UNAUTHORIZED" || code === "ALREADY_LOGGED_IN") {
    local.remove("session");
    endSession();
    showLoginError(errorWords(answer.error));
    return;
  }
  if (code === "INVALID_PAYLOAD" && payload.since) {
    forgetLastId(); // an id this server does not know: log in without it
  } else {
    showNotice(errorWords(answer?.error), "warn");
  }
  setTimeout(() => {
    if (session?.socket === socket && socket.connected && !session.loggedIn) logIn();
  }, 2000);
}

function endSession({ logOut = false } = {}) {
  if (!session) return;
  const { socket, pollTimer, outbox } = session;
  clearInterval(pollTimer);
  outbox.pause();
  session = null;
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
  activePeer = null;
  onlineUsers = [];
  ui.logout.hidden = true;
  ui.loginSubmit.textContent = "Log in";
  document.body.dataset.auth = "out";
  setConnection("offline");
  render();
}

function setConnection(state) {
  const words = {
    offline: "Not connected",
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting… (messages you write will wait)",
  };
  ui.connection.dataset.state = state;
  ui.connection.textContent = words[state];
  if (state !== "connected") delete ui.connection.dataset.transport;
  else showTransport();
}

function showTransport() {
  const name = session?.socket?.io.engine?.transport?.name;
  if (!name) return;
  ui.connection.dataset.transport = name;
  ui.connection.title =
    name === "polling" ? "Connected over HTTP long-polling" : `Connected over ${name}`;
}

async function refreshUsers() {
  const socket = session?.socket;
  if (!socket || !session.loggedIn) return;
  try {
    const answer = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("list users", {});
    if (answer?.ok && session?.socket === socket) {
      onlineUsers = answer.users;
      render();
    }
  } catch {
    // next poll
  }
}

// ---- receiving ------------------------------------------------------------------------------

function receive(message) {
  if (!session || !message || typeof message.id !== "string") return;
  const { data, seen } = session;
  if (seen.has(message.id)) return;
  seen.add(message.id);
  data.seen.push(message.id);
  if (data.seen.length > SEEN_IDS_KEPT) data.seen.splice(0, data.seen.length - SEEN_IDS_KEPT);
  const now = Date.now();
  data.last = { id: message.id, at: now };
  const peer = message.from;
  conversation(peer).messages.push({
    key: `in:${message.id}`,
    dir: "in",
    id: message.id,
    from: message.from,
    to: message.to,
    text: String(message.message),
    sentAt: message.sentAt,
    at: now,
  });
  // Nothing open yet: open this conversation.
  if (activePeer === null) openConversation(peer, { focus: false });
  if (peer === activePeer && !document.hidden) conversation(peer).readAt = now;
  if (!onlineUsers.includes(peer)) refreshUsersSoon();
  save();
  render();
}

let refreshSoonTimer;
function refreshUsersSoon() {
  clearTimeout(refreshSoonTimer);
  refreshSoonTimer = setTimeout(refreshUsers, 200);
}

// ---- sending --------------------------------------------------------------------------------

function send() {
  if (!session) return;
  const peer = ui.recipient.value.trim();
  const text = ui.messageInput.value;
  if (!USERNAME.test(peer)) {
    showNotice(peer ? `"${peer}" is not a valid name.` : "Choose who to write to first.", "error");
    ui.recipient.focus();
    return;
  }
  if (text.trim() === "") return;
  if (peer !== activePeer) openConversation(peer, { focus: false });
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

// ---- conversations --------------------------------------------------------------------------

function openConversation(peer, { focus = true } = {}) {
  activePeer = peer && USERNAME.test(peer) ? peer : null;
  if (session) tabStore.write(`active:${session.user}`, activePeer);
  if (ui.recipient.value.trim() !== (activePeer ?? "")) ui.recipient.value = activePeer ?? "";
  if (activePeer) markRead(activePeer);
  render();
  if (focus) ui.messageInput.focus();
}

// ---- rendering ------------------------------------------------------------------------------

function render() {
  renderPeople();
  renderMessages();
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
  if (peer === activePeer) button.setAttribute("aria-current", "true");
  const name = document.createElement("span");
  name.className = online ? "name online" : "name";
  name.textContent = peer === session?.user ? `${peer} (you)` : peer;
  button.append(name);
  if (unread > 0) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = String(unread);
    badge.setAttribute("aria-label", `${unread} unread`);
    button.append(badge);
  }
  button.addEventListener("click", () => openConversation(peer));
  li.append(button);
  return li;
}

function renderPeople() {
  if (!session) {
    ui.userList.replaceChildren();
    ui.conversationList.replaceChildren();
    return;
  }
  const others = onlineUsers.filter((u) => u !== session.user);
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
    ...peers.map((p) =>
      personButton(p, { online: onlineUsers.includes(p), unread: unreadCount(p) }),
    ),
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
    case "stored":
      return `${time} · ${record.to} is offline; they will get it when they log in`;
    case "failed":
      return `${time} · ${FAILED_WORDS[record.error] ?? "Not sent"}`;
    default:
      return time;
  }
}

function renderMessages() {
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
    : onlineUsers.includes(activePeer)
      ? "online"
      : "offline: messages wait for them";
}

function showNotice(text, kind = "warn") {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    ui.notice.hidden = true;
  }, 6000);
}

function showLoginError(text) {
  ui.loginError.textContent = text;
  ui.loginError.hidden = false;
}

function hideLoginError() {
  ui.loginError.hidden = true;
  ui.loginError.textContent = "";
}

// ---- events ---------------------------------------------------------------------------------

ui.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const user = ui.loginUsername.value.trim();
  if (!USERNAME.test(user)) {
    showLoginError(ERROR_WORDS.INVALID_USERNAME);
    ui.loginUsername.focus();
    return;
  }
  const token = ui.loginToken.value.trim();
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

ui.messageInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden || !session) return;
  if (activePeer) markRead(activePeer);
  refreshUsers();
  render();
});

// Another tab of this user saved: take in what it wrote.
window.addEventListener("storage", (event) => {
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
