/**
 * Real socket.io-client connections for tests, with small helpers that wait for events
 * (never for time) and fail with a clear message after a deadline.
 */
import { io, type Socket } from "socket.io-client";
import type {
  ClientToServerEvents,
  ListUsersAnswer,
  LogInAnswer,
  NewMessage,
  SendMessageAnswer,
  ServerToClientEvents,
} from "../../src/protocol.js";

export type ChatClient = Socket<ServerToClientEvents, ClientToServerEvents> & {
  /** Every `new message` received so far, in order. */
  received: NewMessage[];
};

export type Transport = "polling" | "websocket";

const open = new Set<ChatClient>();

export function connect(
  url: string,
  options: {
    transport?: Transport;
    upgrade?: boolean;
    auth?: object;
    reconnection?: boolean;
    /** Request headers (Node.js clients only), e.g. a HAProxy stickiness cookie. */
    extraHeaders?: Record<string, string>;
  } = {},
): ChatClient {
  const socket = io(url, {
    transports: options.transport ? [options.transport] : ["polling", "websocket"],
    upgrade: options.upgrade ?? true,
    forceNew: true,
    reconnection: options.reconnection ?? true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    auth: options.auth ?? {},
    ...(options.extraHeaders ? { extraHeaders: options.extraHeaders } : {}),
  }) as ChatClient;
  socket.received = [];
  socket.on("new message", (message) => socket.received.push(message));
  open.add(socket);
  return socket;
}

/** Takes `socket` out of what closeAll closes: a client that outlives one test; close it yourself. */
export function keepOpen<T extends ChatClient>(socket: T): T {
  open.delete(socket);
  return socket;
}

/** Disconnects every client the test opened. */
export function closeAll(): void {
  for (const socket of open) socket.disconnect();
  open.clear();
}

export function emitAck<T = unknown>(
  socket: ChatClient,
  event: string,
  ...args: unknown[]
): Promise<T> {
  return (socket.timeout(10_000) as unknown as Socket)
    .emitWithAck(event, ...args)
    .catch((error: Error) => {
      throw new Error(`no answer to "${event}": ${error.message}`);
    }) as Promise<T>;
}

export async function logIn(
  socket: ChatClient,
  username: string,
  extra: { since?: string; token?: string } = {},
): Promise<LogInAnswer> {
  return emitAck<LogInAnswer>(socket, "log in", { username, ...extra });
}

export function send(socket: ChatClient, to: string, message: unknown): Promise<SendMessageAnswer> {
  return emitAck<SendMessageAnswer>(socket, "send message", { username: to, message });
}

export function listUsers(socket: ChatClient): Promise<ListUsersAnswer> {
  return emitAck<ListUsersAnswer>(socket, "list users", {});
}

/** Connects and logs in; rejects if the server refuses. */
export async function connectAs(
  url: string,
  username: string,
  options: Parameters<typeof connect>[1] & { since?: string } = {},
): Promise<ChatClient> {
  const socket = connect(url, options);
  const answer = await logIn(socket, username, options.since ? { since: options.since } : {});
  if (!answer.ok) throw new Error(`log in as ${username} failed: ${JSON.stringify(answer)}`);
  return socket;
}

/**
 * Connects and logs in as `username` until the session is on another worker than `other`'s
 * (the primary's least-loaded choice, or the kernel's where workers accept themselves), at most
 * 40 tries: a caller asserts that it got there.
 */
export async function connectAsOnOtherWorker(
  url: string,
  username: string,
  other: ChatClient,
  options: Parameters<typeof connectAs>[2] = {},
): Promise<ChatClient> {
  let socket = await connectAs(url, username, options);
  for (let i = 0; i < 40 && workerOf(socket) === workerOf(other); i++) {
    socket.disconnect();
    socket = await connectAs(url, username, options);
  }
  return socket;
}

/**
 * Logs `user` in with `since` the oldest possible id and waits for `expected` messages: every kept
 * message of the user, in inbox order.
 */
export async function replayEverything(
  url: string,
  user: string,
  expected: number,
): Promise<NewMessage[]> {
  const client = await connectAs(url, user, { since: "0-0", transport: "websocket" });
  return waitForMessages(client, (m) => m.length >= expected);
}

/** Resolves once `predicate` holds for the messages `socket` has received. */
export async function waitForMessages(
  socket: ChatClient,
  predicate: (received: NewMessage[]) => boolean,
  timeoutMs = 10_000,
): Promise<NewMessage[]> {
  if (predicate(socket.received)) return socket.received;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off("new message", check);
      reject(
        new Error(
          `timed out waiting for messages; got ${JSON.stringify(socket.received.map((m) => m.message))}`,
        ),
      );
    }, timeoutMs);
    function check() {
      if (!predicate(socket.received)) return;
      clearTimeout(timer);
      socket.off("new message", check);
      resolve(socket.received);
    }
    socket.on("new message", check);
  });
}

export function waitForEvent<T = unknown>(
  socket: ChatClient,
  event: string,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for "${event}"`)),
      timeoutMs,
    );
    (socket as unknown as Socket).once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** The worker holding a client's session, read from its Engine.IO session id. */
export function workerOf(socket: ChatClient): string {
  const sid = socket.io.engine?.id ?? "";
  return sid.split(".")[0] ?? "";
}

let counter = 0;
/** A username unique within this test process. */
export function uniqueName(prefix = "u"): string {
  counter++;
  return `${prefix}${process.pid.toString(36)}${counter}`;
}

/**
 * A client as the contract expects a careful one to be: it logs in on every (re)connect with
 * `since` = the last id it saw, and drops duplicates by id. `unique` holds what it kept.
 */
export function connectTracking(
  url: string,
  username: string,
  options: Parameters<typeof connect>[1] = {},
): ChatClient & { unique: Map<string, NewMessage>; logins: number } {
  const socket = connect(url, options) as ChatClient & {
    unique: Map<string, NewMessage>;
    logins: number;
  };
  socket.unique = new Map();
  socket.logins = 0;
  let lastId: string | undefined;
  socket.on("new message", (message) => {
    socket.unique.set(message.id, message);
    lastId = message.id;
  });
  socket.on("connect", () => {
    socket.emit("log in", { username, ...(lastId ? { since: lastId } : {}) }, (answer) => {
      if (answer.ok) socket.logins++;
    });
  });
  return socket;
}
