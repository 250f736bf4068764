/**
 * The `chat-server` package entry for client authors: the Socket.IO event map, payload and
 * answer types, event names and error codes, so a TypeScript app gets a typed `io()` socket.
 *
 *   import { io, type Socket } from "socket.io-client";
 *   import type { ClientToServerEvents, ServerToClientEvents } from "chat-server";
 *   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://localhost:3000");
 */
export {
  type Answer,
  type ChatErrorBody,
  type ChatErrorEvent,
  ClientEvent,
  type ClientToServerEvents,
  type DeliveryStatus,
  ErrorCode,
  type Failure,
  isValidUsername,
  type ListUsersAnswer,
  type LogInAnswer,
  type LogInPayload,
  type LogOutAnswer,
  MAX_LISTED_USERS,
  MAX_WATCH_PER_CALL,
  MAX_WATCHED_PER_CONNECTION,
  type NewMessage,
  type PresenceEvent,
  type SendMessageAnswer,
  type SendMessagePayload,
  ServerEvent,
  type ServerToClientEvents,
  type TypingAnswer,
  type TypingEvent,
  type TypingPayload,
  type UnwatchAnswer,
  USERNAME_PATTERN,
  type WatchAnswer,
  type WatchPayload,
} from "./protocol.js";
