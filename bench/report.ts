/**
 * The readable report: one table per scenario, a column per run, and for every figure its
 * ratio against each baseline measured in the same invocation.
 */
import type { ConnectionResult, DmResult, ScenarioResult } from "./results.js";
import { CLIENT_HOSTS } from "./targets.js";

interface Figure<R> {
  name: string;
  value(result: R): number | undefined;
  /** Digits after the point. */
  digits: number;
  /** Whether a ratio means something for this figure. */
  ratio: boolean;
}

const maxOf = (values: number[]) => values.reduce((a, b) => Math.max(a, b), 0);

/** Who else used the CPUs: the generators, and processes outside the benchmark. */
function loadFigures<R extends ScenarioResult>(): Figure<R>[] {
  return [
    {
      name: "generators CPU (cores)",
      value: (r) => r.generators.reduce((sum, g) => sum + g.cpuCores, 0),
      digits: 2,
      ratio: false,
    },
    {
      name: "other load on the machine (cores)",
      value: (r) => r.otherCores,
      digits: 2,
      ratio: false,
    },
  ];
}

const DM_FIGURES: Figure<DmResult>[] = [
  { name: "clients logged in", value: (r) => r.clients, digits: 0, ratio: false },
  { name: "sent (window)", value: (r) => r.sent, digits: 0, ratio: false },
  { name: "acked", value: (r) => r.acked, digits: 0, ratio: false },
  { name: "delivered", value: (r) => r.delivered, digits: 0, ratio: false },
  { name: "lost", value: (r) => r.lost, digits: 0, ratio: true },
  { name: "errors", value: (r) => r.errors + r.misrouted, digits: 0, ratio: true },
  { name: "throughput (msg/s)", value: (r) => r.throughput, digits: 0, ratio: true },
  { name: "latency p50 (ms)", value: (r) => r.latencyMs.p50, digits: 2, ratio: true },
  { name: "latency p99 (ms)", value: (r) => r.latencyMs.p99, digits: 2, ratio: true },
  { name: "latency p99.9 (ms)", value: (r) => r.latencyMs.p999, digits: 2, ratio: true },
  { name: "latency max (ms)", value: (r) => r.latencyMs.max, digits: 1, ratio: true },
  { name: "server CPU per message (us)", value: (r) => r.cpuUsPerMessage, digits: 1, ratio: true },
  {
    name: "main process CPU per message (us)",
    value: (r) => r.primaryCpuUsPerMessage,
    digits: 1,
    ratio: false,
  },
  {
    name: "  of which redis-server (us)",
    value: (r) => r.redisCpuUsPerMessage,
    digits: 1,
    ratio: true,
  },
  { name: "server CPU (cores)", value: (r) => r.serverCores, digits: 2, ratio: true },
  { name: "server RSS (MB)", value: (r) => r.serverRssMb, digits: 0, ratio: true },
  {
    name: "generator loop delay p99 (ms)",
    value: (r) => maxOf(r.generators.map((g) => g.loopDelayP99Ms)),
    digits: 1,
    ratio: false,
  },
  ...loadFigures<DmResult>(),
];

const CONNECTION_FIGURES: Figure<ConnectionResult>[] = [
  { name: "connections attempted", value: (r) => r.attempted, digits: 0, ratio: false },
  { name: "logged in", value: (r) => r.connected, digits: 0, ratio: false },
  { name: "failed", value: (r) => r.failed, digits: 0, ratio: true },
  { name: "dropped after log-in", value: (r) => r.dropped, digits: 0, ratio: true },
  { name: "connections/s", value: (r) => r.perSecond, digits: 0, ratio: true },
  {
    name: "server CPU per connection (us)",
    value: (r) => r.cpuPerConnectionUs,
    digits: 0,
    ratio: true,
  },
  {
    name: "  of which primary (us)",
    value: (r) => r.primaryCpuPerConnectionUs,
    digits: 0,
    ratio: true,
  },
  { name: "setup p50 (ms)", value: (r) => r.setupMs.p50, digits: 1, ratio: true },
  { name: "setup p99 (ms)", value: (r) => r.setupMs.p99, digits: 1, ratio: true },
  { name: "server RSS idle (MB)", value: (r) => r.rssBeforeMb, digits: 0, ratio: true },
  { name: "server RSS loaded (MB)", value: (r) => r.rssAfterMb, digits: 0, ratio: true },
  { name: "RSS per connection (KB)", value: (r) => r.rssPerConnectionKb, digits: 1, ratio: true },
  ...loadFigures<ConnectionResult>(),
];

/** Rows for the targets' own store and mesh counters, per delivered message (where a target has them). */
function counterFigures(results: DmResult[]): Figure<DmResult>[] {
  const names = new Set(results.flatMap((r) => Object.keys(r.countersPerMessage)));
  return [...names]
    .filter((name) => /store_full|gap_reads|peer_channel/i.test(name))
    .sort()
    .map((name) => ({
      name: `${name.replace(/^chat_|_total$/g, "")} per message`,
      value: (r: DmResult) => r.countersPerMessage[name],
      digits: 3,
      ratio: false,
    }));
}

/**
 * Rows for runs on a Redis Cluster: each master's share of the masters' CPU, busiest first, and
 * the busiest over the quietest (an even spread is 1).
 */
function clusterFigures(results: DmResult[]): Figure<DmResult>[] {
  const masters = maxOf(results.map((r) => r.redisMasters ?? 0));
  if (masters === 0) return [];
  const share = (r: DmResult, i: number) =>
    r.redisMasters && r.redisMasterShares ? (r.redisMasterShares[i] ?? 0) * 100 : undefined;
  return [
    {
      name: "  of which redis masters (us)",
      value: (r: DmResult) => (r.redisMasters ? r.redisMastersCpuUsPerMessage : undefined),
      digits: 1,
      ratio: false,
    },
    ...Array.from({ length: masters }, (_, i) => ({
      name: `  redis master ${i + 1} share (%)`,
      value: (r: DmResult) => share(r, i),
      digits: 0,
      ratio: false,
    })),
    {
      name: "  busiest / quietest master",
      value: (r: DmResult) => {
        const shares = r.redisMasters ? (r.redisMasterShares ?? []) : [];
        const quietest = shares.at(-1) ?? 0;
        return quietest > 0 ? (shares[0] ?? 0) / quietest : undefined;
      },
      digits: 2,
      ratio: false,
    },
  ];
}

export function isBaselineName(target: string): boolean {
  return target === "seed" || target === "cluster" || target === "seed-redis";
}

/**
 * Pairs (run, baseline) to show a ratio for: every run against the seed, and every other run
 * against the cluster baseline with the same number of workers. Multi-host runs (several hosts
 * on one Redis) are compared with seed-redis at the same number of hosts, and with their own
 * target's run at the fewest hosts above one (e.g. 12 hosts against 2). A run on a Redis Cluster
 * (`--redis-cluster`) is also compared with the same run on one Redis.
 */
export function ratioPairs<R extends ScenarioResult>(results: R[]): [R, R][] {
  const pairs: [R, R][] = [];
  for (const run of results) {
    const oneRedis = run.redisMasters
      ? results.find(
          (r) =>
            r.target === run.target &&
            r.hosts === run.hosts &&
            r.workers === run.workers &&
            !r.redisMasters,
        )
      : undefined;
    if ((run.hosts ?? 1) > 1) {
      if (isBaselineName(run.target)) continue;
      for (const base of results) {
        if (base.target === "seed-redis" && base.hosts === run.hosts) pairs.push([run, base]);
      }
      const own = results
        .filter(
          (r) =>
            r.target === run.target && (r.hosts ?? 1) > 1 && r.redisMasters === run.redisMasters,
        )
        .sort((a, b) => (a.hosts ?? 1) - (b.hosts ?? 1))[0];
      if (own && (own.hosts ?? 1) < (run.hosts ?? 1)) pairs.push([run, own]);
      if (oneRedis) pairs.push([run, oneRedis]);
      continue;
    }
    if (oneRedis) pairs.push([run, oneRedis]);
    for (const base of results) {
      if (base === run || !isBaselineName(base.target) || run.target === "seed") continue;
      if (base.target === "cluster" && base.workers !== run.workers) continue;
      if ((base.hosts ?? 1) > 1) continue;
      if (base.target === "seed-redis" && (run.target === "cluster" || run.hosts === undefined))
        continue;
      pairs.push([run, base]);
    }
  }
  return pairs;
}

function format(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function ratio(run: number | undefined, base: number | undefined): string {
  if (run === undefined || base === undefined || !(base > 0)) return "-";
  return `${(run / base).toFixed(2)}x`;
}

function table<R extends ScenarioResult>(results: R[], figures: Figure<R>[]): string {
  const pairs = ratioPairs(results);
  const header = [
    "figure",
    ...results.map((r) => r.label),
    ...pairs.map(([run, base]) => `${run.label} / ${base.label}`),
  ];
  const rows = figures.map((figure) => [
    figure.name,
    ...results.map((r) => format(figure.value(r), figure.digits)),
    ...pairs.map(([run, base]) =>
      figure.ratio ? ratio(figure.value(run), figure.value(base)) : "",
    ),
  ]);
  const widths = header.map((_, c) => maxOf([header, ...rows].map((row) => row[c]?.length ?? 0)));
  const line = (row: string[]) =>
    row
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function notes(results: ScenarioResult[]): string {
  const lines = results.flatMap((r) => r.notes.map((note) => `  ${r.label}: ${note}`));
  return lines.length > 0 ? `\nnotes:\n${lines.join("\n")}` : "";
}

export interface RunFailure {
  scenario: string;
  label: string;
  error: string;
}

export function renderText(results: ScenarioResult[], failures: RunFailure[]): string {
  const parts: string[] = [];
  const dm = results.filter((r): r is DmResult => r.scenario === "dm");
  if (dm.length > 0) {
    const first = dm[0] as DmResult;
    const multiHost = dm.some((r) => (r.hosts ?? 1) > 1)
      ? ` (hN: N hosts on one redis-server, clients on the first ${CLIENT_HOSTS}, CPU of all` +
        `${dm.some((r) => r.redisMasters) ? "; cN: on a Redis Cluster of N masters + N replicas" : ""})`
      : "";
    parts.push(
      `Direct messages: ${first.clients} ${first.transport} clients, ${first.targetRate} msg/s, ` +
        `${first.durationS} s measured${multiHost}\n\n` +
        `${table(dm, [...DM_FIGURES, ...clusterFigures(dm), ...counterFigures(dm)])}` +
        notes(dm),
    );
  }
  const conns = results.filter((r): r is ConnectionResult => r.scenario === "connections");
  if (conns.length > 0) {
    const first = conns[0] as ConnectionResult;
    parts.push(
      `Connections: ${first.requested} logged-in WebSocket sessions from ` +
        `${first.sourceAddresses} source addresses\n\n` +
        `${table(conns, CONNECTION_FIGURES)}${notes(conns)}`,
    );
  }
  if (failures.length > 0) {
    parts.push(
      `Runs that failed:\n${failures.map((f) => `  ${f.scenario} ${f.label}: ${f.error}`).join("\n")}`,
    );
  }
  return parts.join("\n\n");
}
