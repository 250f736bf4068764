/**
 * The connection scenario: open N logged-in WebSocket sessions, a bounded number at a time,
 * from several generator processes and several 127.0.0.x source addresses (towards one
 * server address, one source address has at most ~22,000 usable ports; one process may hold
 * only 20,000 file descriptors here). Source ports are assigned by the generators (see
 * connection-generator.ts): letting the kernel search for a free one costs more CPU than the
 * server spends on the connection. Measures
 * failures, accepted connections per second and the server's RSS per connection.
 */
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { nowUs } from "./clock.js";
import type {
  ConnectionClient,
  ConnectionCommand,
  ConnectionDone,
  ConnectionProgress,
  ConnectionReply,
} from "./connection-messages.js";
import { GeneratorPool } from "./generator-pool.js";
import { encode, merge, summarize } from "./latency.js";
import { endLoadWindow, loadNotes, machineLoad, startLoadWindow } from "./machine-load.js";
import { cpuBetween, sampleTree } from "./proc-stats.js";
import type { ConnectionResult, RunIdentity } from "./results.js";
import type { RunningServer } from "./server-process.js";

export interface ConnectionOptions {
  /** Sessions to open (a target may hold fewer; see Target.maxConnections). */
  connections: number;
  /** Most sessions being set up at once, all generators together. */
  concurrency: number;
  /** Sessions per generator process (each is one file descriptor there). */
  perGenerator: number;
  /** Sessions per source address. */
  perAddress: number;
  timeoutMs: number;
  client: ConnectionClient;
  progress(line: string): void;
}

const GENERATOR = path.join(import.meta.dirname, "connection-generator.js");
const MB = 2 ** 20;

/** Generator processes for `attempted` sessions, and the source addresses they use. */
export interface Generators {
  pool: GeneratorPool<ConnectionCommand, ConnectionReply>;
  count: number;
  localAddresses: string[];
}

export function startGenerators(attempted: number, options: ConnectionOptions): Generators {
  const count = Math.min(attempted, Math.max(2, Math.ceil(attempted / options.perGenerator)));
  const addressCount = Math.min(250, Math.max(2, Math.ceil(attempted / options.perAddress)));
  const localAddresses = Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 2}`);
  return { pool: new GeneratorPool(GENERATOR, count), count, localAddresses };
}

/** Opens `attempted` sessions, split over the generators; resolves once each has tried. */
export async function openSessions(
  label: string,
  url: string,
  attempted: number,
  generators: Generators,
  options: ConnectionOptions,
): Promise<ConnectionDone[]> {
  const { pool, count, localAddresses } = generators;
  const startUs = nowUs();
  for (let g = 0; g < count; g++) {
    const first = Math.floor((g * attempted) / count);
    const next = Math.floor(((g + 1) * attempted) / count);
    pool.send(g, {
      type: "run",
      url,
      first,
      count: next - first,
      concurrency: Math.max(1, Math.round(options.concurrency / count)),
      localAddresses,
      timeoutMs: options.timeoutMs,
      client: options.client,
    });
  }
  const known: (ConnectionProgress | undefined)[] = new Array(count);
  const progress = setInterval(() => {
    pool.latest<ConnectionProgress>("progress").forEach((p, g) => {
      if (p) known[g] = p;
    });
    const connected = known.reduce((sum, p) => sum + (p?.connected ?? 0), 0);
    const failed = known.reduce((sum, p) => sum + (p?.failed ?? 0), 0);
    const seconds = (nowUs() - startUs) / 1e6;
    options.progress(
      `${label}: ${connected}/${attempted} logged in, ${failed} failed, ` +
        `${(connected / seconds).toFixed(0)}/s`,
    );
  }, 1000);
  // Bounded: each session gives up after timeoutMs, `concurrency` at a time.
  const limitMs = 60_000 + (attempted / options.concurrency + 1) * options.timeoutMs;
  return pool.collect<ConnectionDone>("done", limitMs).finally(() => clearInterval(progress));
}

export async function runConnectionLoad(
  id: RunIdentity,
  server: RunningServer,
  attempted: number,
  options: ConnectionOptions,
): Promise<ConnectionResult> {
  const generators = startGenerators(attempted, options);
  try {
    await sleep(500); // let the idle server settle before its RSS is taken
    const before = sampleTree(server.roots);
    const loadWindow = startLoadWindow();
    const startUs = nowUs();
    const done = await openSessions(id.label, server.url, attempted, generators, options);
    const end = sampleTree(server.roots);
    const serverCpuUs = cpuBetween(before, end);
    const primary = server.roots[0] ?? -1;
    const primaryCpuUs = (end.cpuUsByPid.get(primary) ?? 0) - (before.cpuUsByPid.get(primary) ?? 0);
    const serverCores = serverCpuUs / (nowUs() - startUs);
    const generatorCores = done.reduce((sum, d) => sum + d.cpuCores, 0);
    const load = machineLoad(endLoadWindow(loadWindow), serverCores + generatorCores);
    await sleep(1000); // let the server finish the work the last log-ins started
    const after = sampleTree(server.roots);
    const result = summarizeRun(id, options.connections, attempted, done, before, after);
    result.cpuPerConnectionUs = result.connected > 0 ? serverCpuUs / result.connected : 0;
    result.primaryCpuPerConnectionUs = result.connected > 0 ? primaryCpuUs / result.connected : 0;
    const notes = [...result.notes, ...loadNotes(load)];
    if (!server.alive()) notes.unshift(`the server exited during the run:\n${server.output()}`);
    const sourceAddresses = generators.localAddresses.length;
    return { ...result, ...load, sourceAddresses, notes };
  } finally {
    await generators.pool.close();
  }
}

function summarizeRun(
  id: RunIdentity,
  requested: number,
  attempted: number,
  done: ConnectionDone[],
  before: { rssBytes: number },
  after: { rssBytes: number },
): ConnectionResult {
  const connected = done.reduce((sum, d) => sum + d.connected, 0);
  const failed = done.reduce((sum, d) => sum + d.failed, 0);
  const dropped = done.reduce((sum, d) => sum + d.dropped, 0);
  const held = connected - dropped;
  const failures: Record<string, number> = {};
  for (const d of done) {
    for (const [reason, n] of Object.entries(d.failures))
      failures[reason] = (failures[reason] ?? 0) + n;
  }
  const firstUs = Math.min(...done.map((d) => d.firstUs));
  const lastUs = Math.max(...done.map((d) => d.lastUs));
  const elapsedS = Math.max(1e-6, (lastUs - firstUs) / 1e6);
  const histogram = merge(done.map((d) => d.histogram));
  const notes: string[] = [];
  if (attempted < requested) {
    notes.push(`opened ${attempted} of ${requested}: one process cannot hold more (fd limit)`);
  }
  if (failed > 0) notes.push(`failures: ${JSON.stringify(failures)}`);
  done.forEach((d, i) => {
    if (d.loopDelayP99Ms > 50 || d.cpuCores > 0.85) {
      notes.push(
        `generator ${i} was busy (event-loop delay p99 ${d.loopDelayP99Ms.toFixed(1)} ms, ` +
          `CPU ${(d.cpuCores * 100).toFixed(0)}% of a core): the rate may be the generator's`,
      );
    }
  });
  return {
    ...id,
    scenario: "connections",
    requested,
    attempted,
    connected,
    failed,
    failures,
    dropped,
    elapsedS,
    perSecond: connected / elapsedS,
    cpuPerConnectionUs: 0, // filled in by the caller, which measured the server's CPU
    primaryCpuPerConnectionUs: 0,
    rssBeforeMb: before.rssBytes / MB,
    rssAfterMb: after.rssBytes / MB,
    rssPerConnectionKb: held > 0 ? (after.rssBytes - before.rssBytes) / 1024 / held : 0,
    setupMs: summarize(histogram),
    sourceAddresses: 0, // filled in by the caller, with the machine load
    machineCores: 0,
    otherCores: 0,
    cpus: 0,
    generators: done.map((d) => ({
      clients: d.connected,
      loopDelayP99Ms: d.loopDelayP99Ms,
      loopDelayMaxMs: d.loopDelayMaxMs,
      cpuCores: d.cpuCores,
    })),
    notes,
    histogram: encode(histogram),
  };
}
