#!/usr/bin/env node
// `npm run bench`: compiles, then runs the benchmark (dist/bench/run.js) with the arguments
// given. `--help` alone does not compile when a build is already there: reading the options
// should not cost a build.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const run = path.join(root, "dist", "bench", "run.js");
const args = process.argv.slice(2);
const helpOnly = args.includes("--help") || args.includes("-h");

if (!(helpOnly && existsSync(run))) {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const build = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], {
    cwd: root,
    stdio: "inherit",
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const bench = spawn(process.execPath, [run, ...args], { stdio: "inherit" });
// Ctrl-C reaches the whole process group, the benchmark included, which reports and stops on its
// own: wait for it. A SIGTERM sent to this process alone is passed on.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => bench.kill("SIGTERM"));
bench.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
