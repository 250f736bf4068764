/**
 * Messages between the primary and its workers (cluster IPC, JSON serialization).
 * Chat traffic travels as batches: one IPC message per event-loop turn, not one per chat message.
 */
import type { NewMessage } from "../protocol.js";

/**
 * Worker -> primary chat operations (tuples keep the JSON small on the hot path). A `send`
 * carries the id the worker gave the message: the worker acknowledges its client once the batch
 * is written to the primary, without waiting for an answer.
 */
export type HubRequest =
  | ["join", string]
  | ["leave", string]
  | ["send", string, string, string, string, number] // id, from, to, text, sentAt
  | ["replay", number, string, string | null]; // ref, user, since

/** Primary -> worker chat operations. */
export type HubResponse =
  | ["deliver", NewMessage]
  | ["replayed", number, NewMessage[]]
  /** Every user online on the host, sent once to a worker that just became ready. */
  | ["presence", string[]]
  /** Users who came online on the host (their first session anywhere). */
  | ["online", string[]]
  /** Users whose last session on the host ended. */
  | ["offline", string[]];

export type PrimaryToWorker =
  /** A client connection handed over with the bytes the primary already read (latin1). */
  | { t: "conn"; head: string; fresh: boolean; counted: boolean }
  | { t: "chat"; ops: HubResponse[] }
  /** Stop taking sessions, disconnect clients so they reconnect elsewhere, then exit. */
  | { t: "drain" }
  /** Send your Prometheus metrics (prom-client JSON) back with this ref. */
  | { t: "metrics"; ref: number };

export type WorkerToPrimary =
  | { t: "ready" }
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
