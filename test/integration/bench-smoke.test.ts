/**
 * `npm run bench` works end to end: tiny loads against the seed baseline, through the real
 * command line, with --json and --html. It asserts that the report is complete and sane, never
 * a performance figure (timing goals are for the benchmark itself, on a quiet machine).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { REPO_ROOT } from "../helpers/chat-server.js";
import { killOnExit } from "../helpers/processes.js";

const RUN = path.join(REPO_ROOT, "dist", "bench", "run.js");

interface Report {
  results: Record<string, unknown>[];
  failures: unknown[];
}

function bench(args: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const child = spawn(process.execPath, [RUN, "--json", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnExit(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      try {
        resolve({ code, report: JSON.parse(stdout) as Report, stderr });
      } catch {
        reject(new Error(`bench printed no JSON (exit ${code}):\n${stderr}\n${stdout}`));
      }
    });
  });
}

/** A dm run's counts, for a failure message that says which run lost what. */
function counts(dm: Record<string, unknown>): string {
  const keys = ["label", "connectFailures", "sent", "acked", "delivered", "errors", "disconnects"];
  return JSON.stringify(Object.fromEntries(keys.map((key) => [key, dm[key]])));
}

describe("npm run bench (smoke)", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-smoke-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("measures direct messages and connections on the seed baseline", async () => {
    const html = path.join(dir, "report.html");
    const { code, report, stderr } = await bench([
      ...["--targets", "seed", "--scenarios", "dm,connections"],
      ...["--clients", "10", "--rate", "100", "--duration", "2", "--warmup", "0.5"],
      ...["--connections", "60", "--concurrency", "20", "--html", html],
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(report.failures, []);
    const [dm, connections] = report.results;
    assert.ok(dm && connections, "two results");

    assert.equal(dm.scenario, "dm");
    assert.equal(dm.clients, 10);
    assert.ok((dm.sent as number) >= 150, `sent ${dm.sent}`);
    assert.equal(dm.lost, 0, counts(dm));
    assert.equal(dm.delivered, dm.sent);
    assert.equal(dm.errors, 0, counts(dm));
    assert.ok((dm.cpuUsPerMessage as number) > 0, "CPU per message is positive");
    assert.ok((dm.latencyMs as { p99: number }).p99 > 0);

    assert.equal(connections.scenario, "connections");
    assert.equal(connections.connected, 60);
    assert.equal(connections.failed, 0);
    assert.ok((connections.perSecond as number) > 0);

    const page = readFileSync(html, "utf8");
    assert.match(page, /<svg/);
    assert.match(page, /seed/);
  });

  it("runs the seed's Redis design as 2 hosts on one redis-server", async () => {
    const { code, report, stderr } = await bench([
      ...["--targets", "seed-redis", "--hosts", "2", "--scenarios", "dm"],
      ...["--clients", "10", "--rate", "100", "--duration", "1", "--warmup", "0.5"],
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(report.failures, []);
    const [dm] = report.results;
    assert.ok(dm, "one result");
    assert.equal(dm.label, "seed-redis h2");
    assert.equal(dm.hosts, 2);
    assert.equal(dm.clients, 10);
    assert.equal(dm.lost, 0, counts(dm));
    assert.equal(dm.errors, 0, counts(dm));
    assert.equal(dm.misrouted, 0);
    // Two seed-redis processes and the redis-server count as the server.
    assert.ok((dm.serverProcesses as number) >= 3, `processes ${dm.serverProcesses}`);
    assert.ok((dm.cpuUsPerMessage as number) > 0, "CPU per message is positive");
    // The redis-server's own part of it (CPU time comes in 10 ms ticks: may round to 0 here).
    const redis = dm.redisCpuUsPerMessage as number;
    assert.ok(redis >= 0 && redis < (dm.cpuUsPerMessage as number), `Redis ${redis} us`);
    assert.equal((dm.redisMasterShares as number[]).length, 1);
  });

  it("runs chat-server-redis on one redis-server and on a local 3-master Redis Cluster", async () => {
    const { code, report, stderr } = await bench([
      ...["--targets", "chat-server-redis", "--hosts", "2", "--redis-cluster", "3"],
      ...["--scenarios", "dm", "--clients", "10", "--rate", "100"],
      ...["--duration", "1", "--warmup", "0.5"],
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(report.failures, []);
    const [one, cluster] = report.results;
    assert.ok(one && cluster, "two results");
    assert.equal(one.label, "chat-server-redis h2");
    assert.equal(cluster.label, "chat-server-redis h2 c3");
    assert.equal(cluster.redisMasters, 3);
    for (const dm of [one, cluster]) {
      assert.equal(dm.lost, 0, counts(dm));
      assert.equal(dm.errors, 0, counts(dm));
      assert.equal(typeof dm.redisCpuUsPerMessage, "number", `${dm.label}: Redis CPU`);
    }
    // 2 hosts (a primary and a worker each) and 6 redis-server processes.
    assert.ok((cluster.serverProcesses as number) >= 10, `processes ${cluster.serverProcesses}`);
    const shares = cluster.redisMasterShares as number[];
    assert.equal(shares.length, 3);
    assert.deepEqual(
      shares,
      [...shares].sort((a, b) => b - a),
      "busiest first",
    );
    // Shares of the masters' CPU (all 0 if this tiny load took under one 10 ms tick of it).
    const sum = shares.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-9 || sum === 0, `shares ${shares}`);
  });
});
