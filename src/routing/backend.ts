/**
 * What a worker needs from the rest of the cluster: presence, inboxes and routing, behind one
 * interface with two implementations. Embedded mode uses the host's embedded database and the
 * other workers (peer mesh); multi-host mode uses Redis. The chat handlers only ever see this interface.
 */
import type { DeliveryStatus, NewMessage } from "../protocol.js";

export interface SendResult {
  message: NewMessage;
  status: DeliveryStatus;
}

/**
 * One delivery to this worker: a message for `user`'s sessions here. `user` is message.to, or
 * message.from for the copy of a sent message that goes to the sender's other devices.
 * `exceptSession` (a Socket.IO socket id) is the session that sent it: it gets only its ack.
 */
export interface Delivery {
  user: string;
  message: NewMessage;
  exceptSession?: string | undefined;
}

/** Thrown (rejected) when storage cannot be reached: the client gets `UNAVAILABLE`. */
export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
}

export interface Backend {
  /** Connects; rejects with a one-line reason when the storage cannot be reached at start-up. */
  start(): Promise<void>;
  /** The first session of `user` on this worker logged in: mark the user online here. */
  addPresence(user: string): void;
  /** The last session of `user` on this worker logged out or disconnected. */
  removePresence(user: string): void;
  /**
   * Messages to hand a session of `user` that just logged in, oldest first: with `since`, every
   * kept message after that id (sent and received); without it, those no session of the user
   * has seen (a sent message counts as seen by its sender).
   * Called after `addPresence`, so no message can fall between the replay and live delivery.
   */
  replay(user: string, since: string | undefined): Promise<NewMessage[]>;
  /**
   * Stores the message in both inboxes (recipient's and sender's, same id), then routes it to
   * the recipient's sessions and to the sender's sessions other than `session` (the Socket.IO id
   * of the session that sent it; absent when no session sent it, as in back-end tests).
   */
  send(from: string, to: string, text: string, session?: string): Promise<SendResult>;
  /** Online users, sorted, at most `limit`. */
  listUsers(limit: number): Promise<string[]>;
  /** Registers the one handler that gets each delivery for a user with a session on this worker. */
  onDeliver(handler: (delivery: Delivery) => void): void;
  /** This worker watches these users (idempotent per user). Resolves with those online now. */
  watch(users: string[]): Promise<string[]>;
  /** No connection on this worker watches these users any more. */
  unwatch(users: string[]): void;
  /**
   * A user this worker watches: first session anywhere logged in (true) / last one left (false).
   * A change that reaches the worker for a user nobody here watches (any more) is passed on too:
   * the chat layer counts it (it should not happen) and drops it.
   */
  onPresence(handler: (user: string, online: boolean) => void): void;
  /** Relays a typing hint to `to`'s sessions wherever they are; never stored; fire and forget. */
  typing(from: string, to: string): void;
  /** Registers the handler that gets each typing hint for a user with a session on this worker. */
  onTyping(handler: (from: string, to: string) => void): void;
  /** Registers a handler told whenever the storage becomes reachable or unreachable. */
  onReadyChange(handler: (ready: boolean) => void): void;
  isReady(): boolean;
  /** Sends what is batched now instead of at the end of its batching window (drain). */
  flush?(): void;
  /** Flushes what is pending, removes this worker's presence, and disconnects. */
  close(): Promise<void>;
}
