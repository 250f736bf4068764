/**
 * How busy the whole machine was during a measured window, and how much of that was neither
 * the server, the generators nor the benchmark itself: on a shared machine, other work
 * disturbs latency and rates, and the report says so.
 */
import os from "node:os";
import { busyCoresBetween, type MachineSample, ownCpuUs, sampleMachine } from "./proc-stats.js";
import type { MachineLoad } from "./results.js";

export interface LoadWindow {
  machine: MachineSample;
  ownCpuUs: number;
  atMs: number;
}

export function startLoadWindow(): LoadWindow {
  return { machine: sampleMachine(), ownCpuUs: ownCpuUs(), atMs: performance.now() };
}

export interface LoadSpan {
  machineCores: number;
  benchCores: number;
}

export function endLoadWindow(start: LoadWindow): LoadSpan {
  const wallUs = Math.max(1, (performance.now() - start.atMs) * 1000);
  return {
    machineCores: busyCoresBetween(start.machine, sampleMachine(), wallUs),
    benchCores: (ownCpuUs() - start.ownCpuUs) / wallUs,
  };
}

/** `accountedCores`: what the server and the generators used over the same window. */
export function machineLoad(span: LoadSpan, accountedCores: number): MachineLoad {
  return {
    machineCores: span.machineCores,
    otherCores: Math.max(0, span.machineCores - accountedCores - span.benchCores),
    cpus: os.availableParallelism(),
  };
}

export function loadNotes(load: MachineLoad): string[] {
  const notes: string[] = [];
  if (load.otherCores > 0.15) {
    notes.push(
      `other processes kept ${load.otherCores.toFixed(2)} cores busy meanwhile: ` +
        "latency and rates are disturbed (CPU and memory per item much less so)",
    );
  }
  if (load.machineCores > 0.9 * load.cpus) {
    notes.push(
      `the machine's ${load.cpus} cores were ${((load.machineCores / load.cpus) * 100).toFixed(0)}% busy`,
    );
  }
  return notes;
}
