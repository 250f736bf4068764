/**
 * The Socket.IO protocol of chat-server: event names, payloads, answers and error codes.
 *
 * This is the bottom layer: the server, the routing back-ends and the clients all import it,
 * and it imports nothing. Client authors get these types from the package:
 *
 *   import { io, type Socket } from "socket.io-client";
 *   import type { ClientToServerEvents, ServerToClientEvents } from "chat-server/protocol";
 *   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url);
 */

/** Client-to-server event names (the seed article's names are kept). */
export const ClientEvent = {
  LogIn: "log in",
  SendMessage: "send message",
  ListUsers: "list users",
  LogOut: "log out",
  Watch: "watch",
  Unwatch: "unwatch",
  Typing: "typing",
} as const;

/** Server-to-client event names. */
export const ServerEvent = {
  NewMessage: "new message",
  Presence: "presence",
  Typing: "typing",
  ChatError: "chat error",
} as const;

/** Every error code a client can receive, as named constants. */
export const ErrorCode = {
  InvalidUsername: "INVALID_USERNAME",
  Unauthorized: "UNAUTHORIZED",
  NotLoggedIn: "NOT_LOGGED_IN",
  InvalidPayload: "INVALID_PAYLOAD",
  MessageTooLarge: "MESSAGE_TOO_LARGE",
  RateLimited: "RATE_LIMITED",
  Unavailable: "UNAVAILABLE",
  AlreadyLoggedIn: "ALREADY_LOGGED_IN",
  UnknownEvent: "UNKNOWN_EVENT",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ChatErrorBody {
  code: ErrorCode;
  message: string;
}

/** What `chat error` carries when the client gave no acknowledgement callback. */
export interface ChatErrorEvent extends ChatErrorBody {
  event: string;
}

export type Failure = { ok: false; error: ChatErrorBody };
export type Answer<T extends object = object> = ({ ok: true } & T) | Failure;

export interface LogInPayload {
  username: string;
  /** HS256 JWT whose `sub` is the username; required when the server has an auth secret. */
  token?: string;
  /** The last message id this client saw: every kept message after it is sent again. */
  since?: string;
}

export interface SendMessagePayload {
  /** The recipient's username. */
  username: string;
  message: string;
}

/** `delivered`: a session of the recipient was online; `stored`: kept for their next log in. */
export type DeliveryStatus = "delivered" | "stored";

export interface NewMessage {
  /** Opaque, unique per recipient, ordered by the server. */
  id: string;
  from: string;
  to: string;
  message: string;
  /** Epoch milliseconds at which the server accepted the message. */
  sentAt: number;
}

/** `watch` and `unwatch`: the users whose presence to follow (or stop following). */
export interface WatchPayload {
  usernames: string[];
}

/** `typing`: the user being typed to. */
export interface TypingPayload {
  username: string;
}

/** Sent to every connection watching `username` when their first session anywhere logs in
 *  (`online: true`) or their last one leaves (`online: false`). */
export interface PresenceEvent {
  username: string;
  online: boolean;
}

/** Sent to the recipient's sessions while `from` types to them; a hint, never stored. */
export interface TypingEvent {
  from: string;
}

export type LogInAnswer = Answer<{ username: string }>;
export type SendMessageAnswer = Answer<{ id: string; status: DeliveryStatus }>;
export type ListUsersAnswer = Answer<{ users: string[] }>;
export type LogOutAnswer = Answer;
/** `online`: those of the watched names online now. */
export type WatchAnswer = Answer<{ online: string[] }>;
export type UnwatchAnswer = Answer;
export type TypingAnswer = Answer;

/**
 * What a client emits. On the wire every acknowledgement is optional (without one, an error
 * comes back as `chat error`), but the map declares it, because socket.io-client can only type
 * `emitWithAck` and `timeout().emit` from a required last parameter: with `ack?` their payloads
 * and answers would be `any`. To emit without an acknowledgement, cast the socket.
 */
export interface ClientToServerEvents {
  "log in": (payload: LogInPayload, ack: (answer: LogInAnswer) => void) => void;
  "send message": (payload: SendMessagePayload, ack: (answer: SendMessageAnswer) => void) => void;
  "list users": (payload: object, ack: (answer: ListUsersAnswer) => void) => void;
  "log out": (ack: (answer: LogOutAnswer) => void) => void;
  watch: (payload: WatchPayload, ack: (answer: WatchAnswer) => void) => void;
  unwatch: (payload: WatchPayload, ack: (answer: UnwatchAnswer) => void) => void;
  typing: (payload: TypingPayload, ack: (answer: TypingAnswer) => void) => void;
}

export interface ServerToClientEvents {
  "new message": (message: NewMessage) => void;
  presence: (event: PresenceEvent) => void;
  typing: (event: TypingEvent) => void;
  "chat error": (error: ChatErrorEvent) => void;
}

/** 1-32 characters of A-Z a-z 0-9 _ . - */
export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

export function isValidUsername(value: unknown): value is string {
  return typeof value === "string" && USERNAME_PATTERN.test(value);
}

/** Most users `list users` returns. */
export const MAX_LISTED_USERS = 1000;

/** Most names one `watch` or `unwatch` call may carry. */
export const MAX_WATCH_PER_CALL = 500;
/** Most users one connection may watch at once. */
export const MAX_WATCHED_PER_CONNECTION = 1000;
