/**
 * Messages between the primary and its workers (cluster IPC, JSON serialization).
 * Chat traffic travels as batches: one IPC message per event-loop turn, not one per chat message.
 */
import type { NewMessage } from "../protocol.js";

/** Worker -> primary chat operations (tuples keep the JSON small on the hot path). */
export type HubRequest =
  | ["join", string]
  | ["leave", string]
  | ["send", number, string, string, string] // ref, from, to, text
  | ["replay", number, string, string | null] // ref, user, since
  | ["list", number, number]; // ref, limit

/** Primary -> worker chat operations. */
export type HubResponse =
  | ["deliver", NewMessage]
  | ["sent", number, string, 0 | 1, number] // ref, id, delivered?, sentAt
  | ["replayed", number, NewMessage[]]
  | ["listed", number, string[]];

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
