/**
 * The chat protocol as the baselines speak it: just enough of the contract for the load
 * generator (`log in`, `send message`, `new message`), with the same answers as chat-server.
 * Each baseline supplies only what differs between designs: how a user is found and reached.
 */
import type { Socket } from "socket.io";
import {
  ClientEvent,
  ErrorCode,
  type Failure,
  isValidUsername,
  type NewMessage,
  ServerEvent,
} from "../../src/protocol.js";

export interface Delivery {
  /** Called once a connection has logged in as `username`. */
  logIn(socket: Socket, username: string): void;
  /** Called when a logged-in connection goes away. */
  logOut(socket: Socket, username: string): void;
  /**
   * Emits `message` to every session of its recipient; "stored" when none is known. A design
   * that looks the recipient up elsewhere (Redis) answers once the look-up is done.
   */
  deliver(message: NewMessage): Status | Promise<Status>;
}

type Status = "delivered" | "stored";
type Ack = (answer: object) => void;

function fail(code: ErrorCode, message: string): Failure {
  return { ok: false, error: { code, message } };
}

function answer(socket: Socket, event: string, ack: unknown, body: object): void {
  if (typeof ack === "function") (ack as Ack)(body);
  else if ("error" in body)
    socket.emit(ServerEvent.ChatError, { ...(body as Failure).error, event });
}

let lastId = 0;

export function attachChat(socket: Socket, delivery: Delivery, idPrefix: string): void {
  let username: string | undefined;

  socket.on(ClientEvent.LogIn, (payload: unknown, ack?: unknown) => {
    const name = (payload as { username?: unknown } | null)?.username;
    if (!isValidUsername(name)) {
      return answer(socket, ClientEvent.LogIn, ack, fail(ErrorCode.InvalidUsername, "bad name"));
    }
    if (username !== undefined && username !== name) {
      return answer(socket, ClientEvent.LogIn, ack, fail(ErrorCode.AlreadyLoggedIn, "logged in"));
    }
    if (username === undefined) {
      username = name;
      delivery.logIn(socket, name);
    }
    answer(socket, ClientEvent.LogIn, ack, { ok: true, username: name });
  });

  socket.on(ClientEvent.SendMessage, (payload: unknown, ack?: unknown) => {
    const event = ClientEvent.SendMessage;
    if (username === undefined) {
      return answer(socket, event, ack, fail(ErrorCode.NotLoggedIn, "log in first"));
    }
    const { username: to, message } = (payload ?? {}) as { username?: unknown; message?: unknown };
    if (!isValidUsername(to)) {
      return answer(socket, event, ack, fail(ErrorCode.InvalidUsername, "bad recipient"));
    }
    if (typeof message !== "string" || message.length === 0) {
      return answer(socket, event, ack, fail(ErrorCode.InvalidPayload, "empty message"));
    }
    const id = `${idPrefix}${++lastId}`;
    const status = delivery.deliver({ id, from: username, to, message, sentAt: Date.now() });
    if (typeof status === "string") return answer(socket, event, ack, { ok: true, id, status });
    status.then(
      (s) => answer(socket, event, ack, { ok: true, id, status: s }),
      () => answer(socket, event, ack, fail(ErrorCode.Unavailable, "storage unreachable")),
    );
  });

  socket.on("disconnect", () => {
    if (username !== undefined) delivery.logOut(socket, username);
  });
}
