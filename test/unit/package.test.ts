/**
 * What `npm install chat-server` gets: only what a user runs, with every package the server
 * imports in `dependencies` (not one it never imports), and an `engines` field that says what
 * bin/chat-server checks at start.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { describe, it } from "node:test";
import { CLI, REPO_ROOT } from "../helpers/chat-server.js";

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
  dependencies: Record<string, string>;
};

/** The files `npm pack` would publish (scripts skipped: no build while other tests run). */
function packedFiles(): string[] {
  const result = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const [report] = JSON.parse(result.stdout) as { files: { path: string }[] }[];
  return (report?.files ?? []).map((f) => f.path);
}

/** Bare package names imported by a compiled module (static and dynamic imports). */
function importedPackages(source: string): string[] {
  const names = new Set<string>();
  // Import statements start a line (doc comments that show imports do not); dynamic imports.
  const patterns = [
    /^(?:import|export)\b[^;]*?from\s*["']([^"'.][^"']*)["']/gm,
    /\bimport\(\s*["']([^"'.][^"']*)["']/g,
  ];
  for (const match of patterns.flatMap((pattern) => [...source.matchAll(pattern)])) {
    const specifier = match[1] ?? "";
    if (specifier.startsWith("node:") || builtinModules.includes(specifier)) continue;
    const parts = specifier.split("/");
    names.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? ""));
  }
  return [...names];
}

describe("the published package", () => {
  const files = packedFiles();

  it("holds the CLI, the compiled server, the web client and the docs, and nothing for developers", () => {
    for (const needed of [
      "bin/chat-server",
      "bin/package.json",
      "dist/src/cli.js",
      "dist/src/worker-start.js",
      "dist/src/index.d.ts",
      "public/index.html",
      "deploy/chat-server.service",
      "haproxy.cfg",
      "README.md",
    ]) {
      assert.ok(files.includes(needed), `${needed} is missing`);
    }
    const extra = files.filter((f) =>
      /^(test|bench|scripts|src|\.ci)\/|^dist\/(test|bench)\/|\.map$|^tsconfig|^biome/.test(f),
    );
    assert.deepEqual(extra, []);
  });

  it("declares every package the server imports as a dependency, and no other", () => {
    const imported = new Set<string>();
    for (const file of files.filter((f) => f.startsWith("dist/src/") && f.endsWith(".js"))) {
      for (const name of importedPackages(readFileSync(path.join(REPO_ROOT, file), "utf8"))) {
        imported.add(name);
      }
    }
    const declared = Object.keys(pkg.dependencies);
    assert.deepEqual([...imported].filter((n) => !declared.includes(n)).sort(), [], "undeclared");
    assert.deepEqual(declared.filter((n) => !imported.has(n)).sort(), [], "never imported");
  });

  it("engines.node is the version bin/chat-server checks at start", () => {
    const needed = /var NEEDED = \[(\d+), (\d+)\]/.exec(readFileSync(CLI, "utf8"));
    assert.ok(needed, "bin/chat-server names the version it needs");
    assert.equal(pkg.engines.node, `>=${needed[1]}.${needed[2]}`);
  });
});
