/**
 * The reconnect storm (chat-server targets only): `sessions` logged-in WebSocket sessions on one
 * host, then every worker of the host killed with SIGKILL at once, as a crash would. Every
 * session is cut; each client reconnects with Socket.IO's default back-off (1 s doubling up to
 * 5 s, each randomized by half either way) until it is in, and logs in; the host's primary
 * replaces its workers meanwhile. Reports how long until every session is back, the attempts that failed on the way,
 * and the server's CPU per session back.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { nowUs } from "./clock.js";
import { type ConnectionOptions, openSessions, startGenerators } from "./connection-load.js";
import type { StormProgress } from "./connection-messages.js";
import { cpuBetween, killProcesses, sampleTree, treeProcesses } from "./proc-stats.js";
import type { RunIdentity } from "./results.js";
import type { RunningServer } from "./server-process.js";

export interface StormResult extends RunIdentity {
  scenario: "storm";
  /** Sessions logged in before the storm. */
  sessions: number;
  /** Sessions cut by the kill. */
  cut: number;
  /** Of those, logged in again before the time limit. */
  back: number;
  failedAttempts: number;
  /** From the kill to the last session back (to the time limit if some never came back). */
  seconds: number;
  /** Server CPU (the primary and its new workers) from the kill until all are back, per session back. */
  cpuPerSessionUs: number;
  notes: string[];
}

/** How long the clients may take to come back. */
const STORM_LIMIT_MS = 180_000;

export async function runStormLoad(
  id: RunIdentity,
  server: RunningServer,
  sessions: number,
  options: ConnectionOptions,
): Promise<StormResult> {
  const generators = startGenerators(sessions, options);
  const { pool } = generators;
  try {
    const opened = await openSessions(id.label, server.url, sessions, generators, options);
    const held = opened.reduce((sum, d) => sum + d.connected - d.dropped, 0);
    pool.broadcast({ type: "storm" });
    await pool.collect("storm-armed", 10_000);

    const primary = server.roots[0] ?? -1;
    const workers = treeProcesses(primary).filter((p) => p.pid !== primary);
    const before = sampleTree(server.roots);
    const killUs = nowUs();
    killProcesses(workers);
    if (workers.length === 0) throw new Error("found no worker process to kill");

    // Each generator's newest report (a busy one reports less often than every poll).
    const progress: (StormProgress | undefined)[] = new Array(pool.size);
    const total = (key: "cut" | "back" | "failedAttempts") =>
      progress.reduce((sum, p) => sum + (p?.[key] ?? 0), 0);
    while (nowUs() - killUs < STORM_LIMIT_MS * 1000) {
      await sleep(250);
      pool.latest<StormProgress>("storm-progress").forEach((p, g) => {
        if (p) progress[g] = p;
      });
      options.progress(
        `${id.label}: ${total("back")}/${total("cut")} back after the kill, ` +
          `${total("failedAttempts")} attempts failed`,
      );
      if (total("cut") >= held && total("back") >= total("cut")) break;
    }
    const after = sampleTree(server.roots);
    const back = total("back");
    const lastBackUs = Math.max(killUs, ...progress.map((p) => p?.lastBackUs ?? 0));
    const allBack = back >= held;
    const notes: string[] = [];
    if (!allBack) notes.push(`${held - back} sessions not back after ${STORM_LIMIT_MS / 1000} s`);
    const failures: Record<string, number> = {};
    for (const p of progress) {
      for (const [reason, n] of Object.entries(p?.failures ?? {})) {
        failures[reason] = (failures[reason] ?? 0) + n;
      }
    }
    if (total("failedAttempts") > 0) notes.push(`failed attempts: ${JSON.stringify(failures)}`);
    if (!server.alive()) notes.unshift(`the server exited during the storm:\n${server.output()}`);
    return {
      ...id,
      scenario: "storm",
      sessions: held,
      cut: total("cut"),
      back,
      failedAttempts: total("failedAttempts"),
      seconds: ((allBack ? lastBackUs : nowUs()) - killUs) / 1e6,
      cpuPerSessionUs: back > 0 ? cpuBetween(before, after) / back : 0,
      notes,
    };
  } finally {
    await pool.close();
  }
}

export function renderStorm(results: StormResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.label} | ${r.sessions} | ${r.cut} | ${r.back} | ${r.failedAttempts} | ` +
      `${r.seconds.toFixed(1)} | ${r.cpuPerSessionUs.toFixed(0)} |`,
  );
  const notes = results.flatMap((r) => r.notes.map((n) => `  ${r.label}: ${n}`));
  return [
    "Reconnect storm: every worker of the host killed at once; each client reconnects with",
    "Socket.IO's default back-off (1 s doubling up to 5 s, randomized by half) and logs in",
    "",
    "| run | sessions | cut | back | failed attempts | seconds until all back | server CPU per session back (us) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    ...(notes.length > 0 ? ["notes:", ...notes] : []),
  ].join("\n");
}
