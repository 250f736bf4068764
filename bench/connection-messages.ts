/**
 * What the benchmark and its connection generators say to each other over IPC.
 *
 * run -> progress* -> done: open `count` logged-in WebSocket sessions, `concurrency` at a time,
 * and keep them open. close: exit (the kernel closes the sockets).
 * storm -> storm-armed, storm-progress*: from now on, reopen every session that is cut (the
 * reconnect storm; see storm-load.ts), as a Socket.IO client would.
 */
export interface ConnectionRun {
  type: "run";
  url: string;
  /** Users are named `c<i>`; this generator opens c<first> .. c<first + count - 1>. */
  first: number;
  count: number;
  concurrency: number;
  /** Source addresses, used round-robin (127.0.0.x: each has its own ephemeral ports). */
  localAddresses: string[];
  timeoutMs: number;
  /** "lean": bare WebSocket client (lean-client.ts); "socket.io": socket.io-client. */
  client: ConnectionClient;
}

export type ConnectionClient = "lean" | "socket.io";

export interface ConnectionProgress {
  type: "progress";
  connected: number;
  failed: number;
}

export interface ConnectionDone {
  type: "done";
  connected: number;
  failed: number;
  failures: Record<string, number>;
  /** Sessions that logged in and then closed before every session had tried. */
  dropped: number;
  /** Monotonic microseconds: first connection opened, last one answered. */
  firstUs: number;
  lastUs: number;
  /** HdrHistogram of connect + log-in time (microseconds), compressed base64. */
  histogram: string;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  cpuCores: number;
}

export interface StormProgress {
  type: "storm-progress";
  /** Sessions cut since the storm command. */
  cut: number;
  /** Of those, logged in again. */
  back: number;
  /** Reconnection attempts that failed (each is tried again after a pause). */
  failedAttempts: number;
  /** The same, by reason (e.g. `open: 503`, `open: connect ECONNREFUSED`). */
  failures: Record<string, number>;
  /** Monotonic microseconds of the last session back. */
  lastBackUs: number;
}

export type ConnectionCommand = ConnectionRun | { type: "storm" } | { type: "close" };
export type ConnectionReply =
  | ConnectionProgress
  | ConnectionDone
  | { type: "storm-armed" }
  | StormProgress;
