/**
 * Messages between the primary and its workers (cluster IPC, JSON serialization).
 * Chat traffic travels as batches: one IPC message per event-loop turn, not one per chat message.
 */
import type { NewMessage } from "../protocol.js";

/**
 * Worker -> primary chat operations (tuples keep the JSON small). A message is delivered by the
 * sender's worker itself (locally, or straight to the recipient's workers over the peer mesh);
 * `store` hands it to the primary's inbox with the workers it already reached, and the worker
 * acknowledges its client once that batch is written to the primary.
 */
export type HubRequest =
  | ["join", string]
  | ["leave", string]
  | ["store", string, string, string, string, number, number[]] // id, from, to, text, sentAt, reached
  /** The copy of a sent message for the sender's other sessions: id, sessions to skip. */
  | ["copy", string, string]
  | ["replay", number, string, string | null] // ref, user, since
  | ["typing", string, string]; // from, to

/** Primary -> worker chat operations. */
export type HubResponse =
  /** A message for a user here that its sender's worker did not reach itself. */
  | ["deliver", NewMessage]
  /** A sent message for its sender's sessions here, but the one that sent it. */
  | ["copy", NewMessage, string]
  /** A typing hint for `to`'s sessions here: from, to. */
  | ["typing", string, string]
  | ["replayed", number, NewMessage[]]
  /** Who is online on which worker: sent once to a worker that just became ready. */
  | ["presence", [string, number[]][]]
  /** Presence moves, in order: [user, worker id, 1 = got a session there / 0 = lost its last]. */
  | ["moves", [string, number, 0 | 1][]]
  /** The live workers' peer sockets: [worker id, socket path]. */
  | ["peers", [number, string][]];

export type PrimaryToWorker =
  /** A client connection handed over with the bytes the primary already read (latin1). */
  | { t: "conn"; head: string; fresh: boolean; counted: boolean }
  | { t: "chat"; ops: HubResponse[] }
  /** Stop taking sessions, disconnect clients so they reconnect elsewhere, then exit. */
  | { t: "drain" }
  /** Send your Prometheus metrics (prom-client JSON) back with this ref. */
  | { t: "metrics"; ref: number }
  /** Multi-host mode: a worker of this host died; remove its presence from Redis now. */
  | { t: "forget"; presenceKey: string };

export type WorkerToPrimary =
  /**
   * Ready for clients; in embedded mode, with the Unix socket its peers can reach it on; in
   * multi-host mode, with its name in Redis presence data.
   */
  | { t: "ready"; peerPath?: string; presenceKey?: string }
  /** Periodic load report for least-connection balancing: sessions open, handshakes received. */
  | { t: "load"; connections: number; handshakes: number }
  | { t: "chat"; ops: HubRequest[] }
  /** The worker's storage back-end became reachable or unreachable. */
  | { t: "backend"; ready: boolean }
  | { t: "metrics"; ref: number; metrics: unknown }
  /** Sessions counted by the primary's per-address limit that have ended, by address. */
  | { t: "released"; addresses: string[] };

export function isMessage<T extends { t: string }>(value: unknown): value is T {
  return (
    typeof value === "object" && value !== null && typeof (value as { t?: unknown }).t === "string"
  );
}
