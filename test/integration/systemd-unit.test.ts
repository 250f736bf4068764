/**
 * The shipped systemd unit: its settings for drain, reload and port 80, `systemd-analyze verify`
 * (with ExecStart pointed at this checkout, since verify wants the binary to exist), its
 * hardening score, and the environment file covering every option of `chat-server start`.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import {
  accessSync,
  chownSync,
  constants,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULTS } from "../../src/config.js";
import { CLI, REPO_ROOT, waitForReady } from "../helpers/chat-server.js";

const UNIT_PATH = path.join(REPO_ROOT, "deploy", "chat-server.service");
const ENV_PATH = path.join(REPO_ROOT, "deploy", "chat-server.env");
/** Where the shipped unit expects `npm install -g` to have put the entry point. */
const INSTALLED_BIN = "/usr/bin/chat-server";
/** Worst `systemd-analyze security` exposure accepted (0 = locked down, 10 = none at all). */
const MAX_EXPOSURE = 2.5;

const analyzeMissing =
  spawnSync("systemd-analyze", ["--version"]).error === undefined
    ? false
    : "systemd-analyze is not installed (apt-get install systemd); skipping unit verification";

type Unit = Map<string, string[]>;

/** `Section.Key` to every value it is given, in order (enough for this one unit). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = header[1];
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `not a key=value line: ${line}`);
    const key = `${section}.${line.slice(0, eq).trim()}`;
    unit.set(key, [...(unit.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

function one(unit: Unit, key: string): string {
  const values = unit.get(key);
  assert.ok(values && values.length === 1, `${key} should be set exactly once`);
  return values[0] as string;
}

function seconds(value: string): number {
  const match = /^(\d+)\s*s?$/.exec(value);
  assert.ok(match?.[1], `expected a number of seconds, got ${value}`);
  return Number(match[1]);
}

function analyze(args: string[]) {
  const result = spawnSync("systemd-analyze", args, { encoding: "utf8", timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Output lines about our unit (verify may also grumble about unrelated units on a host). */
function aboutUnit(output: string): string[] {
  return output.split("\n").filter((line) => line.includes("chat-server"));
}

const unitText = readFileSync(UNIT_PATH, "utf8");
const unit = parseUnit(unitText);
const tmp = mkdtempSync(path.join(os.tmpdir(), "chat-server-unit-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The unit with ExecStart pointed at this checkout's entry point. */
function localUnitPath(): string {
  assert.ok(unitText.includes(`ExecStart=${INSTALLED_BIN} `));
  const file = path.join(tmp, "chat-server.service");
  writeFileSync(file, unitText.replace(`ExecStart=${INSTALLED_BIN} `, `ExecStart=${CLI} `));
  return file;
}

describe("deploy/chat-server.service", () => {
  it("runs the installed entry point and lets the primary coordinate stop and reload", () => {
    assert.equal(one(unit, "Service.Type"), "exec");
    const execStart = one(unit, "Service.ExecStart");
    assert.match(execStart, /^\/usr\/(local\/)?bin\/chat-server start\b/);
    assert.doesNotMatch(execStart, /npx/);
    assert.equal(one(unit, "Service.KillMode"), "mixed");
    assert.match(one(unit, "Service.ExecReload"), /^\/bin\/kill -HUP \$MAINPID$/);
    assert.equal(one(unit, "Service.Restart"), "on-failure");
    assert.ok(
      seconds(one(unit, "Service.TimeoutStopSec")) >= DEFAULTS.shutdownTimeout + 5,
      "TimeoutStopSec must leave the drain (--shutdown-timeout) time to finish",
    );
  });

  it("binds low ports without root and runs unprivileged with a high file limit", () => {
    assert.equal(one(unit, "Service.AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    assert.equal(one(unit, "Service.CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert.equal(one(unit, "Service.DynamicUser"), "yes");
    // Embedded mode's inboxes: /var/lib/chat-server, found through $STATE_DIRECTORY.
    assert.equal(one(unit, "Service.StateDirectory"), "chat-server");
    assert.ok(Number(one(unit, "Service.LimitNOFILE")) >= 65_536);
    for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"]) {
      assert.equal(one(unit, `Service.${key}`), "yes", key);
    }
    assert.equal(one(unit, "Service.ProtectSystem"), "strict");
    assert.equal(one(unit, "Service.RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
    assert.ok(unit.get("Service.SystemCallFilter")?.includes("@system-service"));
    assert.equal(unit.has("Service.MemoryDenyWriteExecute"), false, "V8's JIT needs W+X memory");
  });

  it("passes systemd-analyze verify", { skip: analyzeMissing }, () => {
    const { status, output } = analyze(["verify", localUnitPath()]);
    assert.deepEqual(aboutUnit(output), [], output);
    assert.equal(status, 0, output);
  });

  it("as shipped, fails verify only for want of the installed binary", {
    skip: analyzeMissing,
  }, () => {
    const { output } = analyze(["verify", UNIT_PATH]);
    const complaints = aboutUnit(output).filter(
      (line) => !line.includes(`Command ${INSTALLED_BIN} is not executable`),
    );
    assert.deepEqual(complaints, [], output);
  });

  it(`scores at most ${MAX_EXPOSURE} in systemd-analyze security`, {
    skip: analyzeMissing,
  }, (t) => {
    const { output } = analyze(["security", "--offline=true", "--no-pager", localUnitPath()]);
    const match = /Overall exposure level for chat-server\.service: ([\d.]+)/.exec(output);
    if (!match?.[1] && /offline/.test(output)) {
      t.skip("this systemd-analyze has no --offline (systemd < 250)");
      return;
    }
    assert.ok(match?.[1], output);
    assert.ok(Number(match[1]) <= MAX_EXPOSURE, `exposure ${match[1]}:\n${output}`);
  });
});

describe("deploy/chat-server.env", () => {
  const envText = readFileSync(ENV_PATH, "utf8");

  it("names every option of chat-server start and its environment variable", () => {
    const help = spawnSync(process.execPath, [CLI, "start", "--help"], { encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    const text = help.stdout.replace(/\s+/g, " ");
    const envVars = [...text.matchAll(/env: ([A-Z0-9_]+)/g)].map((m) => m[1] as string);
    const options = [...text.matchAll(/ --([a-z][a-z-]+)/g)]
      .map((m) => m[1] as string)
      .filter((name) => name !== "help");
    assert.ok(envVars.includes("PORT") && options.includes("shutdown-timeout"), text);
    for (const name of envVars) assert.match(envText, new RegExp(`^#?${name}=`, "m"), name);
    for (const name of options) assert.ok(envText.includes(`--${name}`), `--${name}`);
  });

  it("sets nothing by default and keeps the example drain below TimeoutStopSec", () => {
    const active = envText.split("\n").filter((line) => /^\s*[^#\s]/.test(line));
    assert.deepEqual(active, []);
    const example = /^#CHAT_ARGS=.*--shutdown-timeout (\d+)/m.exec(envText);
    assert.ok(example?.[1]);
    assert.ok(Number(example[1]) + 5 <= seconds(one(unit, "Service.TimeoutStopSec")));
  });
});

/** Why the port-80 check cannot run here, or false when it can. */
async function port80Unavailable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return "needs root to drop to an unprivileged user";
  if (spawnSync("setpriv", ["--version"]).error) return "setpriv (util-linux) is not installed";
  const asNobody = spawnSync("setpriv", [
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    process.execPath,
    "-e",
    `require("fs").accessSync(${JSON.stringify(CLI)})`,
  ]);
  if (asNobody.status !== 0) return "this checkout is not readable by user nobody";
  const probe = net.createServer();
  const free = await new Promise<boolean>((resolve) => {
    probe.once("error", () => resolve(false));
    probe.listen(80, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
  return free ? false : "127.0.0.1:80 is in use";
}

/** A state directory owned by nobody, removed when the test process exits. */
function stateDirectory(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), "chat-state-"));
  chownSync(directory, 65534, 65534);
  process.once("exit", () => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

describe("port 80 without root, as the unit runs it", async () => {
  const skip = await port80Unavailable();
  it("serves as user nobody holding only CAP_NET_BIND_SERVICE", { skip }, async () => {
    accessSync(CLI, constants.X_OK);
    // What DynamicUser + AmbientCapabilities + CapabilityBoundingSet + NoNewPrivileges give.
    const caps = ["--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service"];
    const proc = spawn(
      "setpriv",
      [
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        ...caps,
        "--bounding-set=-all,+net_bind_service",
        "--no-new-privs",
        process.execPath,
        CLI,
        "start",
        "--port",
        "80",
        "--host",
        "127.0.0.1",
        "--workers",
        "1",
        "--log-level",
        "warn",
      ],
      // What StateDirectory= gives the service: a directory of its own, named in the env.
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, STATE_DIRECTORY: stateDirectory() },
      },
    );
    let output = "";
    proc.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    proc.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = once(proc, "exit");
    try {
      await waitForReady("http://127.0.0.1:80", 20_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${output}`);
      });
      const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+65534\s/m, "runs as nobody");
      // Bit 10 is CAP_NET_BIND_SERVICE; nothing else may be effective.
      assert.match(status, /^CapEff:\s+0*400$/m, status);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
    } finally {
      proc.kill("SIGTERM");
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, output);
  });
});
