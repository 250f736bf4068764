/**
 * The direct-message scenario: N logged-in clients send `send message` to random other
 * clients at a fixed total rate (open loop), spread over several generator processes.
 * Measures delivery, latency and the server's CPU time per delivered message.
 */
import path from "node:path";
import { nowUs, sleepUntil } from "./clock.js";
import {
  type DmCommand,
  type DmCounters,
  type DmProgress,
  type DmReady,
  type DmReply,
  type DmResultMessage,
  type Transport,
  zeroCounters,
} from "./dm-messages.js";
import { GeneratorPool } from "./generator-pool.js";
import { encode, merge, summarize } from "./latency.js";
import { endLoadWindow, loadNotes, machineLoad, startLoadWindow } from "./machine-load.js";
import { cpuBetween, sampleTree, type TreeSample } from "./proc-stats.js";
import type { DmResult, RunIdentity } from "./results.js";
import { countersPer, scrapeCounters } from "./server-metrics.js";
import type { RunningServer } from "./server-process.js";

export interface DmOptions {
  clients: number;
  /** Messages per second, all clients together. */
  rate: number;
  durationS: number;
  warmupS: number;
  transport: Transport;
  messageBytes: number;
  /** Most seconds to wait after the window for messages still in flight. */
  drainS: number;
  /** Clients per generator process (at least 2 generators). */
  clientsPerGenerator: number;
  progress(line: string): void;
}

const GENERATOR = path.join(import.meta.dirname, "dm-generator.js");

export async function runDmLoad(
  id: RunIdentity,
  server: RunningServer,
  options: DmOptions,
): Promise<DmResult> {
  const count = generatorCount(options.clients, options.clientsPerGenerator);
  const pool = new GeneratorPool<DmCommand, DmReply>(GENERATOR, count);
  try {
    options.progress(`${id.label}: connecting ${options.clients} ${options.transport} clients`);
    for (let g = 0; g < count; g++) {
      const first = Math.floor((g * options.clients) / count);
      const next = Math.floor(((g + 1) * options.clients) / count);
      pool.send(g, {
        type: "setup",
        urls: server.clientUrls,
        transport: options.transport,
        first,
        count: next - first,
        total: options.clients,
        concurrency: Math.max(1, Math.ceil(100 / count)),
        messageBytes: options.messageBytes,
      });
    }
    const ready = await pool.collect<DmReady>("ready", 120_000);
    return await measure(id, server, pool, ready, options);
  } finally {
    await pool.close();
  }
}

/**
 * Progress reports of the generators arrive up to 250 ms apart, so a receiver's count can be
 * fresher than its senders': a progress line never shows more delivered than sent (the final
 * result uses every generator's last counts).
 */
function deliveredSoFar(totals: { sent: number; delivered: number }): number {
  return Math.min(totals.delivered, totals.sent);
}

async function measure(
  id: RunIdentity,
  server: RunningServer,
  pool: GeneratorPool<DmCommand, DmReply>,
  ready: DmReady[],
  options: DmOptions,
): Promise<DmResult> {
  const connected = ready.reduce((sum, r) => sum + r.connected, 0);
  if (connected < 2) {
    const reasons = ready.map((r) => JSON.stringify(r.failures)).join(" ");
    throw new Error(`${id.label}: only ${connected} clients could log in ${reasons}`);
  }
  const startUs = nowUs() + 300_000;
  const windowStartUs = startUs + options.warmupS * 1e6;
  const windowEndUs = windowStartUs + options.durationS * 1e6;
  ready.forEach((r, g) => {
    const rate = (options.rate * r.connected) / connected;
    pool.send(g, { type: "run", startUs, windowStartUs, windowEndUs, rate });
  });

  const show = (phase: string) => {
    const totals = sumCounters(pool.latest<DmProgress>("progress").filter((p) => p !== undefined));
    options.progress(
      `${id.label}: ${phase}  sent ${totals.sent}  delivered ${deliveredSoFar(totals)}` +
        `  errors ${totals.errors}`,
    );
    return totals;
  };
  await tick(windowStartUs, () => show("warming up"));
  const before = sampleTree(server.roots);
  const loadWindow = startLoadWindow();
  // Counters come from the first host's /metrics: per message they mean something only when it
  // is the whole server.
  const scrape = (url: string) =>
    server.hosts > 1 ? Promise.resolve(undefined) : scrapeCounters(url);
  const countersBefore = await scrape(server.url);
  await tick(windowEndUs, () => {
    const elapsed = (nowUs() - windowStartUs) / 1e6;
    show(`measuring ${elapsed.toFixed(0)}/${options.durationS} s`);
  });
  const after = sampleTree(server.roots);
  const loadSpan = endLoadWindow(loadWindow);
  const countersAfter = await scrape(server.url);
  const windowS = options.durationS;

  // Drain: wait until every measured message has arrived, or give up after drainS.
  const drainEndUs = nowUs() + options.drainS * 1e6;
  const latest: (DmProgress | undefined)[] = new Array(pool.size);
  while (nowUs() < drainEndUs) {
    await sleepUntil(nowUs() + 100_000);
    pool.latest<DmProgress>("progress").forEach((p, g) => {
      if (p) latest[g] = p;
    });
    const totals = sumCounters(latest.filter((p) => p !== undefined));
    options.progress(`${id.label}: draining  delivered ${deliveredSoFar(totals)}/${totals.sent}`);
    if (latest.every((p) => p?.windowSent) && totals.delivered >= totals.sent) break;
  }
  pool.broadcast({ type: "finish" });
  const results = await pool.collect<DmResultMessage>("result", 30_000);
  const totals = sumCounters(results);
  const histogram = merge(results.map((r) => r.histogram));
  const cpuUs = cpuBetween(before, after);
  const connectFailures = ready.reduce((sum, r) => sum + r.failed, 0);
  const serverCores = cpuUs / (windowS * 1e6);
  const generatorCores = results.reduce((sum, r) => sum + r.cpuCores, 0);
  const result: DmResult = {
    ...id,
    scenario: "dm",
    transport: options.transport,
    clients: connected,
    connectFailures,
    targetRate: options.rate,
    durationS: windowS,
    ...totals,
    lost: totals.sent - totals.delivered,
    throughput: totals.receivedInWindow / windowS,
    latencyMs: summarize(histogram),
    cpuUsPerMessage: totals.receivedInWindow > 0 ? cpuUs / totals.receivedInWindow : 0,
    primaryCpuUsPerMessage:
      totals.receivedInWindow > 0
        ? primaryCpuUs(before, after, server.roots) / totals.receivedInWindow
        : 0,
    ...redisCpu(before, after, server, totals.receivedInWindow),
    serverCores,
    ...machineLoad(loadSpan, serverCores + generatorCores),
    serverRssMb: after.rssBytes / 2 ** 20,
    serverProcesses: after.processes,
    countersPerMessage: countersPer(countersBefore, countersAfter, totals.receivedInWindow),
    generators: results.map((r) => ({
      clients: r.clients,
      loopDelayP99Ms: r.loopDelayP99Ms,
      loopDelayMaxMs: r.loopDelayMaxMs,
      cpuCores: r.cpuCores,
      sendLagMaxMs: r.sendLagMaxMs,
    })),
    notes: [],
    histogram: encode(histogram), // one merged histogram per run, for the chart
  };
  result.notes = notes(result, ready, options);
  if (!server.alive())
    result.notes.unshift(`the server exited during the run:\n${server.output()}`);
  return result;
}

/**
 * One generator per `perGenerator` clients, at least 2, but no more than 8 unless each would
 * otherwise hold over 15,000 sockets (file descriptors): past a few processes per core, more
 * generators only add scheduling noise.
 */
function generatorCount(clients: number, perGenerator: number): number {
  const wanted = Math.max(2, Math.ceil(clients / perGenerator));
  return Math.min(clients, wanted, Math.max(8, Math.ceil(clients / 15_000)));
}

type Totals = DmCounters;

function sumCounters(list: Totals[]): Totals {
  const total: Totals = zeroCounters();
  for (const counters of list) {
    for (const key of Object.keys(total) as (keyof Totals)[]) total[key] += counters[key];
  }
  return total;
}

/** Calls `show` every half second from now until `toUs` (monotonic). */
async function tick(toUs: number, show: () => void): Promise<void> {
  for (;;) {
    const left = toUs - nowUs();
    if (left <= 0) return;
    await sleepUntil(nowUs() + Math.min(left, 500_000));
    show();
  }
}

function notes(result: DmResult, ready: DmReady[], options: DmOptions): string[] {
  const list: string[] = [];
  if (result.connectFailures > 0) {
    const reasons = ready.flatMap((r) => Object.entries(r.failures));
    list.push(`${result.connectFailures} clients failed to log in: ${JSON.stringify(reasons)}`);
  }
  const expected = options.rate * options.durationS;
  if (result.sent < expected * 0.95) {
    list.push(`sent ${result.sent} of the ${expected} scheduled: the generators fell behind`);
  }
  result.generators.forEach((g, i) => {
    if (g.loopDelayP99Ms > 10 || g.cpuCores > 0.85 || (g.sendLagMaxMs ?? 0) > 100) {
      list.push(
        `generator ${i} was busy (event-loop delay p99 ${g.loopDelayP99Ms.toFixed(1)} ms, ` +
          `CPU ${(g.cpuCores * 100).toFixed(0)}% of a core, send lag up to ` +
          `${(g.sendLagMaxMs ?? 0).toFixed(0)} ms): latency includes generator delay`,
      );
    }
  });
  if (result.lost > 0) list.push(`${result.lost} messages not delivered within the drain time`);
  return [...list, ...loadNotes(result)];
}

/** CPU the first host's main process (chat-server's primary) spent in the window, microseconds. */
function primaryCpuUs(before: TreeSample, after: TreeSample, roots: number[]): number {
  const root = roots[0] ?? -1;
  return (after.cpuUsByPid.get(root) ?? 0) - (before.cpuUsByPid.get(root) ?? 0);
}

/** CPU of the run's redis-server processes per delivery, and each master's share of theirs. */
function redisCpu(
  before: TreeSample,
  after: TreeSample,
  server: RunningServer,
  received: number,
): Pick<DmResult, "redisCpuUsPerMessage" | "redisMastersCpuUsPerMessage" | "redisMasterShares"> {
  if (server.redisPids.length === 0) return {};
  const spent = (pid: number) =>
    (after.cpuUsByPid.get(pid) ?? 0) - (before.cpuUsByPid.get(pid) ?? 0);
  const total = server.redisPids.reduce((sum, pid) => sum + spent(pid), 0);
  const masters = server.redisMasterPids.map(spent);
  const mastersTotal = masters.reduce((sum, cpu) => sum + cpu, 0);
  return {
    redisCpuUsPerMessage: received > 0 ? total / received : 0,
    redisMastersCpuUsPerMessage: received > 0 ? mastersTotal / received : 0,
    redisMasterShares: masters
      .map((cpu) => (mastersTotal > 0 ? cpu / mastersTotal : 0))
      .sort((a, b) => b - a),
  };
}
