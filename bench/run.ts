/**
 * `npm run bench`: runs each scenario against each target (a fresh server per run), prints a
 * progress line while it works and a table at the end, with every figure's ratio against the
 * baselines measured in the same invocation. See bench/README.md.
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import { type ConnectionOptions, runConnectionLoad } from "./connection-load.js";
import { runDmLoad } from "./dm-load.js";
import { renderHtml } from "./html-report.js";
import { type BenchOptions, parseOptions, type Scenario } from "./options.js";
import { type PresenceResult, renderPresence, runPresenceLoad } from "./presence-load.js";
import { openFilesLimit } from "./proc-stats.js";
import { READING_GUIDE } from "./reading-guide.js";
import { medianRuns } from "./repeat.js";
import { type RunFailure, renderText } from "./report.js";
import type { RunIdentity, ScenarioResult } from "./results.js";
import { startServer } from "./server-process.js";
import { renderStorm, runStormLoad, type StormResult } from "./storm-load.js";
import type { Target } from "./targets.js";

const progressLine = createProgressLine();

function createProgressLine() {
  const tty = process.stderr.isTTY;
  let lastPrint = 0;
  return {
    show(line: string) {
      if (tty) process.stderr.write(`\r\x1b[2K${line}`);
      else if (Date.now() - lastPrint > 2000) {
        lastPrint = Date.now();
        process.stderr.write(`${line}\n`);
      }
    },
    done(line: string) {
      process.stderr.write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
      lastPrint = 0;
    },
  };
}

interface PlannedRun extends RunIdentity {
  scenario: Scenario;
  targetSpec: Target;
}

function plan(options: BenchOptions): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (const scenario of options.scenarios) {
    if (scenario === "presence" || scenario === "storm") continue; // planned on their own
    for (let round = 0; round < options.repeat; round++) {
      for (const target of options.targets) {
        const counts = target.usesWorkers ? options.workers : [1];
        if (target.multiHost && scenario === "dm") {
          // One host: as many workers as --workers says. Several hosts: one process (one
          // worker) per host, the seed-redis way, so the process counts stay comparable.
          // With --redis-cluster N, a target that can also runs on an N-master cluster.
          const redisModes = [undefined, ...(target.clusterCapable ? options.redisClusters : [])];
          for (const hosts of options.hosts) {
            for (const workers of hosts > 1 ? [1] : counts) {
              for (const redisMasters of redisModes) {
                const label =
                  (hosts > 1 || !target.usesWorkers
                    ? `${target.name} h${hosts}`
                    : `${target.name} w${workers}`) + (redisMasters ? ` c${redisMasters}` : "");
                runs.push({
                  scenario,
                  label,
                  target: target.name,
                  workers,
                  hosts,
                  ...(redisMasters ? { redisMasters } : {}),
                  targetSpec: target,
                });
              }
            }
          }
          continue;
        }
        for (const workers of counts) {
          const label = target.usesWorkers ? `${target.name} w${workers}` : target.name;
          runs.push({ scenario, label, target: target.name, workers, targetSpec: target });
        }
      }
    }
  }
  return runs;
}

/** Presence runs: chat-server targets only (the baselines have no presence subscriptions). */
function planPresence(options: BenchOptions): (RunIdentity & { targetSpec: Target })[] {
  if (!options.scenarios.includes("presence")) return [];
  const runs: (RunIdentity & { targetSpec: Target })[] = [];
  for (const target of options.targets) {
    if (!target.name.startsWith("chat-server")) continue;
    const hostCounts = target.multiHost ? options.hosts : [1];
    for (const hosts of hostCounts) {
      for (const workers of hosts > 1 ? [1] : options.workers) {
        const label = `${target.name} ${hosts > 1 ? `h${hosts}` : `w${workers}`} presence`;
        runs.push({ label, target: target.name, workers, hosts, targetSpec: target });
      }
    }
  }
  return runs;
}

/** Reconnect storms: chat-server targets on one host (the baselines do not replace workers). */
function planStorm(options: BenchOptions): (RunIdentity & { targetSpec: Target })[] {
  if (!options.scenarios.includes("storm")) return [];
  return options.targets
    .filter((target) => target.name.startsWith("chat-server"))
    .flatMap((target) =>
      options.workers.map((workers) => ({
        label: `${target.name} w${workers} storm`,
        target: target.name,
        workers,
        targetSpec: target,
      })),
    );
}

async function runStorm(
  run: RunIdentity & { targetSpec: Target },
  options: BenchOptions,
): Promise<StormResult> {
  const { targetSpec, ...id } = run;
  progressLine.show(`${run.label}: starting the server`);
  const server = await startServer(targetSpec, run.workers, 1, {
    timeoutMs: 30_000,
    cpuProfDir: options.cpuProf,
  });
  try {
    return await runStormLoad(
      id,
      server,
      sessionsFor(targetSpec, options),
      connectionOptions(options),
    );
  } finally {
    await server.stop();
  }
}

async function runPresence(
  run: RunIdentity & { targetSpec: Target },
  options: BenchOptions,
): Promise<PresenceResult> {
  const { targetSpec, ...id } = run;
  const hosts = run.hosts ?? 1;
  progressLine.show(`${run.label}: starting ${hosts > 1 ? `${hosts} hosts` : "the server"}`);
  const server = await startServer(targetSpec, run.workers, hosts, {
    timeoutMs: 30_000 + 5_000 * hosts,
    cpuProfDir: options.cpuProf,
  });
  try {
    return await runPresenceLoad(id, server, {
      watchers: options.watchers,
      subjects: 100,
      watchesPerWatcher: 10,
      rate: options.presenceRate,
      durationS: options.duration,
      warmupS: options.warmup,
      progress: progressLine.show,
    });
  } finally {
    await server.stop();
  }
}

/** Sessions to open: --connections, or fewer where the target is one process (its fd limit). */
function sessionsFor(target: Target, options: BenchOptions): number {
  const fdLimit = openFilesLimit() ?? 20_000;
  return Math.min(options.connections, target.maxConnections?.(fdLimit) ?? Infinity);
}

function connectionOptions(options: BenchOptions): ConnectionOptions {
  return {
    connections: options.connections,
    concurrency: options.concurrency,
    perGenerator: 5000,
    perAddress: 10_000,
    timeoutMs: 20_000,
    client: options.connectionClient,
    progress: progressLine.show,
  };
}

async function runOne(run: PlannedRun, options: BenchOptions): Promise<ScenarioResult> {
  const id: RunIdentity = { label: run.label, target: run.target, workers: run.workers };
  if (run.hosts !== undefined) id.hosts = run.hosts;
  if (run.redisMasters !== undefined) id.redisMasters = run.redisMasters;
  const hosts = run.hosts ?? 1;
  const cluster = run.redisMasters ? ` on a ${run.redisMasters}-master Redis Cluster` : "";
  progressLine.show(
    `${run.label}: starting ${hosts > 1 ? `${hosts} hosts` : "the server"}${cluster}`,
  );
  const server = await startServer(run.targetSpec, run.workers, hosts, {
    timeoutMs: 30_000 + 5_000 * hosts,
    cpuProfDir: options.cpuProf,
    redisMasters: run.redisMasters,
  });
  try {
    if (run.scenario === "dm") {
      return await runDmLoad(id, server, {
        clients: options.clients,
        rate: options.rate,
        durationS: options.duration,
        warmupS: options.warmup,
        drainS: options.drain,
        transport: options.transport,
        messageBytes: options.messageBytes,
        clientsPerGenerator: 150,
        progress: progressLine.show,
      });
    }
    return await runConnectionLoad(
      id,
      server,
      sessionsFor(run.targetSpec, options),
      connectionOptions(options),
    );
  } finally {
    await server.stop();
  }
}

function summaryLine(result: ScenarioResult): string {
  if (result.scenario === "dm") {
    const redis =
      result.redisCpuUsPerMessage === undefined
        ? ""
        : ` (Redis ${result.redisCpuUsPerMessage.toFixed(1)} us)`;
    return (
      `${result.label}: ${result.delivered}/${result.sent} delivered, ` +
      `p99 ${result.latencyMs.p99} ms, ${result.cpuUsPerMessage.toFixed(1)} us CPU/message${redis}`
    );
  }
  return (
    `${result.label}: ${result.connected}/${result.attempted} logged in, ` +
    `${result.perSecond.toFixed(0)}/s, ${result.rssPerConnectionKb.toFixed(1)} KB/connection`
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runs: ScenarioResult[] = [];
  const failures: RunFailure[] = [];
  let interrupted = false;
  process.once("SIGINT", () => {
    interrupted = true;
    // The servers and generators got the same SIGINT: the current run ends with an error.
    progressLine.done("interrupted: reporting the runs that finished");
  });
  for (const run of plan(options)) {
    if (interrupted) break;
    try {
      const result = await runOne(run, options);
      runs.push(result);
      progressLine.done(summaryLine(result));
    } catch (error) {
      const message = (error as Error).message;
      failures.push({ scenario: run.scenario, label: run.label, error: message });
      progressLine.done(`${run.label}: failed: ${message}`);
    }
  }
  const presence: PresenceResult[] = [];
  for (const run of planPresence(options)) {
    if (interrupted) break;
    try {
      const result = await runPresence(run, options);
      presence.push(result);
      progressLine.done(
        `${run.label}: ${result.events}/${result.expectedEvents} events, ` +
          `${result.cpuUsPerEvent.toFixed(1)} us CPU/event, ${result.unwatchedTouches} unwatched`,
      );
    } catch (error) {
      const message = (error as Error).message;
      failures.push({ scenario: "presence", label: run.label, error: message });
      progressLine.done(`${run.label}: failed: ${message}`);
    }
  }
  const storms: StormResult[] = [];
  for (const run of planStorm(options)) {
    if (interrupted) break;
    try {
      const result = await runStorm(run, options);
      storms.push(result);
      progressLine.done(
        `${run.label}: ${result.back}/${result.cut} back in ${result.seconds.toFixed(1)} s, ` +
          `${result.failedAttempts} attempts failed`,
      );
    } catch (error) {
      const message = (error as Error).message;
      failures.push({ scenario: "storm", label: run.label, error: message });
      progressLine.done(`${run.label}: failed: ${message}`);
    }
  }
  const results = medianRuns(runs);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
  if (options.html) {
    writeFileSync(options.html, renderHtml(results, failures, machine));
    progressLine.done(`wrote ${options.html}`);
  }
  if (options.json) {
    const { targets, ...rest } = options;
    const report = {
      machine,
      options: { ...rest, targets: targets.map((t) => t.name) },
      results,
      presence,
      storms,
      failures,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(
      `\n${machine.cpus} x ${machine.cpuModel}, Node ${machine.node}\n\n` +
        `${renderText(results, failures)}\n\n` +
        (presence.length > 0 ? `${renderPresence(presence)}\n\n` : "") +
        (storms.length > 0 ? `${renderStorm(storms)}\n\n` : "") +
        `${READING_GUIDE}\n`,
    );
  }
  process.exitCode = failures.length > 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
});
