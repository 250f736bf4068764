/**
 * What each scenario run reports: the figures of one target, as the table, --json and the
 * HTML report show them.
 */
import type { LatencySummary } from "./latency.js";

export interface RunIdentity {
  /** e.g. "chat-server w2", "seed" */
  label: string;
  target: string;
  /** Worker processes (1 for single-process targets; per host in a multi-host run). */
  workers: number;
  /** Hosts on one Redis (multi-host targets only; clients use the first two). */
  hosts?: number;
  /** Masters of the local Redis Cluster the run used (`--redis-cluster`); none: one Redis. */
  redisMasters?: number;
}

export interface GeneratorReport {
  clients: number;
  /** Event-loop delay over the measured window, ms: high means the generator lagged. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** CPU of the generator over the window, in cores (1 = one core busy). */
  cpuCores: number;
  sendLagMaxMs?: number;
}

/** What else kept the machine busy while a run measured (the machine may be shared). */
export interface MachineLoad {
  /** Cores busy on the whole machine over the window. */
  machineCores: number;
  /** Of those, cores used by processes other than the server, generators and benchmark. */
  otherCores: number;
  cpus: number;
}

export interface DmResult extends RunIdentity, MachineLoad {
  scenario: "dm";
  transport: string;
  clients: number;
  connectFailures: number;
  targetRate: number;
  durationS: number;
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  errors: number;
  misrouted: number;
  disconnects: number;
  /** Deliveries per second while the window was open. */
  throughput: number;
  latencyMs: LatencySummary;
  /** Server process tree CPU time (user+system) in the window / deliveries in the window. */
  cpuUsPerMessage: number;
  /** CPU of the first host's main process (the primary; the whole server for one-process baselines) per delivery. */
  primaryCpuUsPerMessage: number;
  /** Of the server's CPU, that of every redis-server process (masters and replicas) per delivery. */
  redisCpuUsPerMessage?: number;
  /** Of that, the masters' (a cluster's replicas left out; one Redis: all of it). */
  redisMastersCpuUsPerMessage?: number;
  /** Each Redis master's share of the masters' CPU, busiest first (one entry: one Redis). */
  redisMasterShares?: number[];
  /** Server CPU in the window, in cores. */
  serverCores: number;
  serverRssMb: number;
  serverProcesses: number;
  /** The target's own /metrics counters (name_total) over the window, per delivery. */
  countersPerMessage: Record<string, number>;
  generators: GeneratorReport[];
  /** Warnings: the generator was the bottleneck, connections failed, ... */
  notes: string[];
  /** HdrHistogram of latencies (microseconds), compressed base64, for the HTML chart. */
  histogram: string;
}

export interface ConnectionResult extends RunIdentity, MachineLoad {
  scenario: "connections";
  requested: number;
  attempted: number;
  connected: number;
  failed: number;
  failures: Record<string, number>;
  /** Logged in, then closed before all had tried. */
  dropped: number;
  elapsedS: number;
  /** Logged-in connections per second over the whole ramp. */
  perSecond: number;
  /** Server CPU (all its processes) from the first connection to the last answer, per session. */
  cpuPerConnectionUs: number;
  /**
   * Of that, the CPU of the first process alone (chat-server's and cluster's primary, which
   * accepts and hands over every connection; the whole server for seed), per session.
   */
  primaryCpuPerConnectionUs: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  /** (tree RSS with every connection open - idle tree RSS) / connections still open */
  rssPerConnectionKb: number;
  /** Time from opening a connection to its log-in answer, ms. */
  setupMs: LatencySummary;
  sourceAddresses: number;
  generators: GeneratorReport[];
  notes: string[];
  histogram: string;
}

export type ScenarioResult = DmResult | ConnectionResult;
