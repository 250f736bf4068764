/**
 * What a worker needs from the rest of the cluster: presence, inboxes and routing, behind one
 * interface with two implementations. Embedded mode talks to the primary over IPC; multi-host
 * mode talks to Redis. The chat handlers only ever see this interface.
 */
import type { DeliveryStatus, NewMessage } from "../protocol.js";

export interface SendResult {
  message: NewMessage;
  status: DeliveryStatus;
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
   * kept message after that id; without it, those stored while no session was online.
   * Called after `addPresence`, so no message can fall between the replay and live delivery.
   */
  replay(user: string, since: string | undefined): Promise<NewMessage[]>;
  /** Stores the message in the recipient's inbox, then routes it to their sessions. */
  send(from: string, to: string, text: string): Promise<SendResult>;
  /** Online users, sorted, at most `limit`. */
  listUsers(limit: number): Promise<string[]>;
  /** Registers the one handler that gets each message for a user with a session on this worker. */
  onDeliver(handler: (message: NewMessage) => void): void;
  /** Registers a handler told whenever the storage becomes reachable or unreachable. */
  onReadyChange(handler: (ready: boolean) => void): void;
  isReady(): boolean;
  /** Sends what is batched now instead of at the end of its batching window (drain). */
  flush?(): void;
  /** Flushes what is pending, removes this worker's presence, and disconnects. */
  close(): Promise<void>;
}
