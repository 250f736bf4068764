// What the page remembers in the browser: localStorage (shared by the tabs) and sessionStorage
// (this tab only), and how one user's remembered history merges with what other tabs wrote.

const HISTORY_PER_CONVERSATION = 500;
export const SEEN_IDS_KEPT = 2_000;
export const STORE = "chat-server:v1:";

export const local = {
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

export const tabStore = {
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
export const TAB =
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

export function loadData(user) {
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

export function serialize(data) {
  return { last: data.last, seen: data.seen, conversations: [...data.conversations] };
}

/** An answered message outranks one still waiting, so merging never undoes a status. */
export function rank(record) {
  return record.dir === "out" && (record.status === "sending" || record.status === "waiting")
    ? 0
    : 1;
}

/**
 * Both lists, one record per key (on a tie, `b`'s), oldest first, the newest kept. A message
 * sent from one tab can also reach another tab as a copy (key `sent:<id>`): the sending tab's
 * record of it (same id) is the one kept.
 */
function mergeMessages(a, b) {
  const byKey = new Map();
  for (const record of [...a, ...b]) {
    const known = byKey.get(record.key);
    if (!known || rank(record) >= rank(known)) byKey.set(record.key, record);
  }
  const written = new Set();
  for (const record of byKey.values()) {
    if (record.id && record.key.startsWith("out:")) written.add(record.id);
  }
  return [...byKey.values()]
    .filter((record) => !(record.key.startsWith("sent:") && written.has(record.id)))
    .sort((x, y) => x.at - y.at)
    .slice(-HISTORY_PER_CONVERSATION);
}

export function mergeData(a, b) {
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
