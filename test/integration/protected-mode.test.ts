/**
 * Open by default no more (issue 15, demonstration 7): without --auth-secret the server listens
 * on loopback only unless --host says otherwise, and the web client is served with a
 * Content-Security-Policy that allows no inline script and no framing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { CLI, REPO_ROOT, startChatServer, tempDataDir } from "../helpers/chat-server.js";
import { eventually } from "../helpers/wait.js";

/** Starts the CLI with exactly `args` (no --host), returns the address it says it listens on. */
async function startBare(args: string[]) {
  const proc = spawn(process.execPath, [CLI, "start", "--port", "0", "--workers", "1", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    // Its own default data directory (./chat-data), not the checkout's that others may hold.
    cwd: tempDataDir(),
  });
  let output = "";
  proc.stdout.on("data", (chunk) => {
    output += chunk;
  });
  proc.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const listening = await eventually(() => {
    const line = output.split("\n").find((l) => l.includes('"msg":"listening"'));
    assert.ok(line, `not listening yet:\n${output}`);
    return JSON.parse(line) as { host: string; port: number };
  }, 20_000);
  return {
    ...listening,
    async stop() {
      proc.kill("SIGTERM");
      await once(proc, "exit");
    },
  };
}

/** An IPv4 address of this machine other than loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("protected mode and the web client's headers", () => {
  it("without --auth-secret it listens on 127.0.0.1 only", async (t) => {
    const server = await startBare([]);
    try {
      assert.equal(server.host, "127.0.0.1");
      assert.ok(await canConnect("127.0.0.1", server.port));
      const external = externalAddress();
      if (!external) t.diagnostic("no non-loopback address on this machine to try");
      else assert.equal(await canConnect(external, server.port), false, `reached on ${external}`);
    } finally {
      await server.stop();
    }
  });

  it("with --auth-secret it listens on every address", async () => {
    const server = await startBare(["--auth-secret", "a-secret-of-16-chars-or-more"]);
    try {
      assert.equal(server.host, "0.0.0.0");
    } finally {
      await server.stop();
    }
  });

  it("serves the web client with a CSP that forbids inline script and framing", async () => {
    const server = await startChatServer({ workers: 1 });
    try {
      const res = await fetch(`${server.url}/`);
      await res.arrayBuffer();
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /default-src 'none'/);
      assert.equal(res.headers.get("x-frame-options"), "DENY");
    } finally {
      await server.stop();
    }
    // Under that policy the page may have no inline script, handler or style attribute.
    const html = readFileSync(path.join(REPO_ROOT, "public", "index.html"), "utf8");
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(html, /\son[a-z]+=|\sstyle=|<style/i);
  });
});
