/**
 * Which ratio columns the benchmark report shows: multi-host runs against seed-redis with the
 * same number of hosts and against their own run with the fewest hosts; the others as before.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ratioPairs } from "../../bench/report.js";
import type { ScenarioResult } from "../../bench/results.js";

function run(
  label: string,
  target: string,
  workers: number,
  hosts?: number,
  redisMasters?: number,
): ScenarioResult {
  return {
    label,
    target,
    workers,
    ...(hosts ? { hosts } : {}),
    ...(redisMasters ? { redisMasters } : {}),
  } as ScenarioResult;
}

function names(results: ScenarioResult[]): string[] {
  return ratioPairs(results).map(([a, b]) => `${a.label} / ${b.label}`);
}

describe("bench ratio columns", () => {
  it("compares multi-host runs with seed-redis at the same hosts and with their own 2 hosts", () => {
    const results = [
      run("seed-redis h2", "seed-redis", 1, 2),
      run("seed-redis h12", "seed-redis", 1, 12),
      run("chat-server-redis h2", "chat-server-redis", 1, 2),
      run("chat-server-redis h12", "chat-server-redis", 1, 12),
    ];
    assert.deepEqual(names(results), [
      "chat-server-redis h2 / seed-redis h2",
      "chat-server-redis h12 / seed-redis h12",
      "chat-server-redis h12 / chat-server-redis h2",
    ]);
  });

  it("keeps the single-host ratios against seed and cluster", () => {
    const results = [
      run("chat-server w2", "chat-server", 2),
      run("seed", "seed", 1),
      run("cluster w2", "cluster", 2),
    ];
    assert.deepEqual(names(results), [
      "chat-server w2 / seed",
      "chat-server w2 / cluster w2",
      "cluster w2 / seed",
    ]);
  });

  it("compares a run on a Redis Cluster with the same run on one Redis", () => {
    const results = [
      run("seed-redis h2", "seed-redis", 1, 2),
      run("chat-server-redis h2", "chat-server-redis", 1, 2),
      run("chat-server-redis h2 c3", "chat-server-redis", 1, 2, 3),
      run("chat-server-redis h12", "chat-server-redis", 1, 12),
      run("chat-server-redis h12 c3", "chat-server-redis", 1, 12, 3),
    ];
    assert.deepEqual(names(results), [
      "chat-server-redis h2 / seed-redis h2",
      "chat-server-redis h2 c3 / seed-redis h2",
      "chat-server-redis h2 c3 / chat-server-redis h2",
      "chat-server-redis h12 / chat-server-redis h2",
      "chat-server-redis h12 c3 / chat-server-redis h2 c3",
      "chat-server-redis h12 c3 / chat-server-redis h12",
    ]);
  });
});
