/**
 * `--repeat N`: every run is done N times, interleaved (all targets, then all again), so slow
 * drifts in the machine's background load hit every target alike. Each target is then
 * represented by its median repetition, chosen by the scenario's headline figure, and a note
 * lists that figure for every repetition so the spread is visible.
 */
import type { ScenarioResult } from "./results.js";

function headline(result: ScenarioResult): { name: string; value: number } {
  return result.scenario === "dm"
    ? { name: "CPU us/message", value: result.cpuUsPerMessage }
    : { name: "connections/s", value: result.perSecond };
}

export function medianRuns(results: ScenarioResult[]): ScenarioResult[] {
  const groups = new Map<string, ScenarioResult[]>();
  for (const result of results) {
    const key = `${result.scenario} ${result.label}`;
    groups.set(key, [...(groups.get(key) ?? []), result]);
  }
  return [...groups.values()].map((group) => {
    if (group.length === 1) return group[0] as ScenarioResult;
    const sorted = [...group].sort((a, b) => headline(a).value - headline(b).value);
    const median = sorted[Math.floor((sorted.length - 1) / 2)] as ScenarioResult;
    const values = group.map((r) => headline(r).value.toFixed(1)).join(", ");
    const note = `median of ${group.length} runs by ${headline(median).name} (${values})`;
    return { ...median, notes: [note, ...median.notes] };
  });
}
