/**
 * Messages between the primary and its workers (cluster IPC, JSON serialization).
 * Chat traffic never goes through the primary: workers share the store and talk over the peer mesh.
 */
export type PrimaryToWorker =
  /** A client connection handed over with the bytes the primary already read (latin1). */
  | { t: "conn"; head: string; fresh: boolean; counted: boolean }
  /** Embedded mode: users a dead worker held went offline; this worker watches them. */
  | { t: "offline"; users: string[] }
  /** Stop taking sessions, disconnect clients so they reconnect elsewhere, then exit. */
  | { t: "drain" }
  /** Send your Prometheus metrics (prom-client JSON) back with this ref. */
  | { t: "metrics"; ref: number }
  /** Multi-host mode: a worker of this host died; remove its presence from Redis now. */
  | { t: "forget"; presenceKey: string }
  /** Answers to the oldest `admit` questions not answered yet, in order: may each session start? */
  | { t: "admitted"; results: boolean[] };

export type WorkerToPrimary =
  /** Ready for clients; in multi-host mode, with its name in Redis presence data. */
  | { t: "ready"; presenceKey?: string }
  /** Periodic load report for least-connection balancing: sessions open, handshakes received. */
  | { t: "load"; connections: number; handshakes: number }
  /** The worker's storage back-end became reachable or unreachable. */
  | { t: "backend"; ready: boolean }
  | { t: "metrics"; ref: number; metrics: unknown }
  /** Sessions counted by the primary's per-address limit that have ended, by address. */
  | { t: "released"; addresses: string[] }
  /** The worker cannot start (it exits next): why, in one line. */
  | { t: "failed"; reason: string }
  /** A connection this worker accepted that is not its own (handle attached), with its bytes. */
  | { t: "up"; head: string }
  /** May a new session from each of these addresses start on this worker? (count them if so) */
  | { t: "admit"; addresses: string[] };

export function isMessage<T extends { t: string }>(value: unknown): value is T {
  return (
    typeof value === "object" && value !== null && typeof (value as { t?: unknown }).t === "string"
  );
}
