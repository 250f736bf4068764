/**
 * CPU time and resident memory of a whole process tree, read from /proc (Linux only).
 *
 * The server under test is a tree: a primary and its workers (and Redis, when a target starts
 * one). Its cost is the sum over every process in the tree, so a design that moves work into
 * another process cannot hide it. CPU is utime + stime of each process (all its threads), RSS
 * is the sum of each process's resident set.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

function sysconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync("getconf", [name], { encoding: "utf8" }).trim());
    return Number.isFinite(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

const CLOCK_TICKS = sysconf("CLK_TCK", 100);
const PAGE_SIZE = sysconf("PAGESIZE", 4096);

interface ProcStat {
  pid: number;
  ppid: number;
  /** user + system CPU time of the process, all threads, in microseconds */
  cpuUs: number;
  rssBytes: number;
  /** Start time since boot, clock ticks: tells a process from a later one with its pid. */
  startTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // exited meanwhile
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); field n of proc(5) is fields[n - 3].
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return {
    pid,
    ppid,
    cpuUs: ((utime + stime) * 1e6) / CLOCK_TICKS,
    rssBytes: rssPages * PAGE_SIZE,
    startTicks: Number(fields[19]),
  };
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** Processes of the trees rooted at `roots`, keyed by pid. */
function treeStats(roots: number[]): Map<number, ProcStat> {
  const children = new Map<number, ProcStat[]>();
  const byPid = new Map<number, ProcStat>();
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (!stat) continue;
    byPid.set(pid, stat);
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  const tree = new Map<number, ProcStat>();
  const queue = roots.flatMap((root) => byPid.get(root) ?? []);
  for (let next = queue.pop(); next; next = queue.pop()) {
    tree.set(next.pid, next);
    for (const child of children.get(next.pid) ?? []) queue.push(child);
  }
  return tree;
}

export interface TreeSample {
  /** CPU time so far of each process in the tree, microseconds */
  cpuUsByPid: Map<number, number>;
  rssBytes: number;
  processes: number;
}

/** The server is a set of process trees: its own, and any service started for it (Redis). */
export function sampleTree(roots: number[]): TreeSample {
  const tree = treeStats(roots);
  let rssBytes = 0;
  const cpuUsByPid = new Map<number, number>();
  for (const stat of tree.values()) {
    rssBytes += stat.rssBytes;
    cpuUsByPid.set(stat.pid, stat.cpuUs);
  }
  return { cpuUsByPid, rssBytes, processes: tree.size };
}

/**
 * CPU time the tree spent between two samples, microseconds. A process that appeared in
 * between counts from zero; one that exited in between is lost (the tree should be stable).
 */
export function cpuBetween(before: TreeSample, after: TreeSample): number {
  let total = 0;
  for (const [pid, cpu] of after.cpuUsByPid) total += cpu - (before.cpuUsByPid.get(pid) ?? 0);
  return total;
}

/** CPU time of this process so far (all threads), microseconds. */
export function ownCpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Soft limit on open files of this process (from /proc/self/limits), or undefined. */
export function openFilesLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    const value = Number(soft);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A process, told apart from any later process that reuses its pid. */
export interface ProcessId {
  pid: number;
  startTicks: number;
}

/** The processes of the tree rooted at `root`. */
export function treeProcesses(root: number): ProcessId[] {
  return [...treeStats([root]).values()].map(({ pid, startTicks }) => ({ pid, startTicks }));
}

/** Sends SIGKILL to each of `processes` that still runs (and is still the same process). */
export function killProcesses(processes: ProcessId[]): void {
  for (const { pid, startTicks } of processes) {
    if (readStat(pid)?.startTicks !== startTicks) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
}

/** Busy and total CPU time of the whole machine so far (all cores), microseconds. */
export interface MachineSample {
  busyUs: number;
  totalUs: number;
}

export function sampleMachine(): MachineSample {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const total = ticks.reduce((a, b) => a + b, 0);
  const us = (t: number) => (t * 1e6) / CLOCK_TICKS;
  return { busyUs: us(total - idle), totalUs: us(total) };
}

/** Cores the machine kept busy between two samples (e.g. 1.5 of 2). */
export function busyCoresBetween(
  before: MachineSample,
  after: MachineSample,
  wallUs: number,
): number {
  return (after.busyUs - before.busyUs) / wallUs;
}
