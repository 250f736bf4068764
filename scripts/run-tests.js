#!/usr/bin/env node
// Runs every compiled test file with node's test runner. Files run two at a time (this project's
// machines have 2 cores); each integration test starts its own servers on free ports.
// Usage: node scripts/run-tests.js [substring ...]  (only files whose path contains one of them)
// Environment: TEST_CONCURRENCY (files at once, default 2); TEST_FILE_TIMEOUT_S (a test file that
// runs longer fails, default 600, so a hung wait fails in minutes, not at CI's time limit);
// CI=true (a skipped test fails the run: scripts/test-reporter.js).
// Before running, the test sources are compared with what the build made of them: a test file
// that was not built, a built one whose source is gone, or a file that holds tests under a name
// the runner does not pick up, fails the run instead of silently not running.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const repo = path.resolve(import.meta.dirname, "..");
const sourceRoot = path.join(repo, "test");
const builtRoot = path.join(repo, "dist", "test");
const filters = process.argv.slice(2);

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? walk(full) : [full];
  });
}

/** What is wrong with the test files: not built, built from a source now gone, misnamed. */
function testFileProblems() {
  const sources = walk(sourceRoot);
  const built = walk(builtRoot).filter((file) => file.endsWith(".test.js"));
  const expected = sources
    .filter((file) => file.endsWith(".test.ts"))
    .map((file) => path.join(builtRoot, path.relative(sourceRoot, file)).replace(/\.ts$/, ".js"));
  const problems = [];
  for (const file of expected) {
    if (!built.includes(file))
      problems.push(`not built: ${path.relative(repo, file)} (npm run build)`);
  }
  for (const file of built) {
    if (!expected.includes(file)) {
      problems.push(
        `built test with no source (stale build: rm -rf dist): ${path.relative(repo, file)}`,
      );
    }
  }
  // A file that declares tests runs only if named *.test.ts or imported by one (a shared suite).
  const texts = new Map(sources.map((file) => [file, readFileSync(file, "utf8")]));
  for (const [file, text] of texts) {
    if (file.endsWith(".test.ts") || !/from ["']node:test["']/.test(text)) continue;
    const stem = path.basename(file).replace(/\.[cm]?[jt]sx?$/, "");
    const imported = [...texts].some(
      ([other, body]) => other !== file && body.includes(`/${stem}.js"`),
    );
    if (!imported) {
      problems.push(
        `declares tests but never runs: ${path.relative(repo, file)} (name it *.test.ts)`,
      );
    }
  }
  return problems;
}

const problems = testFileProblems();
if (problems.length > 0) {
  for (const problem of problems) console.error(`✖ ${problem}`);
  process.exit(1);
}

const files = walk(builtRoot)
  .filter((file) => file.endsWith(".test.js"))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error("no test files found under dist/test (did the build run?)");
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? "2";
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_S ?? "600") * 1000;
const scratch = mkdtempSync(path.join(os.tmpdir(), "chat-test-run-"));
const skipsFile = path.join(scratch, "skips.json");
const result = spawnSync(
  process.execPath,
  [
    "--test",
    `--test-concurrency=${concurrency}`,
    // node 20 applies it to each file as a whole; later versions to each test as well.
    `--test-timeout=${fileTimeoutMs}`,
    // A file whose tests have all finished exits even if a handle is still open (a client
    // socket, a timer): seen in CI as a file with every test passed that then sat until its
    // timeout. The processes a test starts are killed by their helpers' exit hooks.
    "--test-force-exit",
    `--test-reporter=${path.join(import.meta.dirname, "test-reporter.js")}`,
    "--test-reporter-destination=stdout",
    ...files,
  ],
  { stdio: "inherit", env: { ...process.env, CHAT_TEST_SKIPS_FILE: skipsFile } },
);
const skips = existsSync(skipsFile) ? JSON.parse(readFileSync(skipsFile, "utf8")) : [];
rmSync(scratch, { recursive: true, force: true });
const strict = /^(1|true|yes)$/i.test(process.env.CI ?? "");
if (result.status === 0 && strict && skips.length > 0) process.exit(1);
process.exit(result.status ?? 1);
