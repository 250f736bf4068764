/**
 * `--redis rediss://…`: a real host on a real Redis that speaks only TLS and wants a password,
 * with a certificate from a test CA made here with openssl. The host trusts that CA through
 * NODE_EXTRA_CA_CERTS (as docs/multi-host.md tells operators), verifies the server's name (or
 * IP address), and prints only its JSON log lines; without the CA it refuses to start, in one
 * line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ChatServer, CLI, startChatServer } from "../helpers/chat-server.js";
import { closeAll, connectAs, send, uniqueName, waitForMessages } from "../helpers/clients.js";
import { randomPrefix } from "../helpers/redis-backend.js";
import { freePort, type RedisProcess, startRedis } from "../helpers/redis-server.js";

const PASSWORD = "tls-test-secret";

function openssl(args: string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

/** A CA and a server certificate for localhost and 127.0.0.1, in `dir`. */
function makeCertificates(dir: string): void {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=chat test CA",
    ].concat(["-keyout", "ca.key", "-out", "ca.crt"]),
    dir,
  );
  openssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"].concat([
      "-keyout",
      "redis.key",
      "-out",
      "redis.csr",
    ]),
    dir,
  );
  writeFileSync(path.join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl(
    ["x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key"].concat([
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
      "-out",
      "redis.crt",
    ]),
    dir,
  );
}

const missing =
  spawnSync("openssl", ["version"]).error !== undefined
    ? "openssl is not installed"
    : !spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout?.includes("v=")
      ? "redis-server is not installed"
      : false;

describe("Redis over TLS (rediss://)", { skip: missing }, () => {
  let dir: string;
  let redis: RedisProcess;
  let port: number;
  const hosts: ChatServer[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "chat-tls-"));
    makeCertificates(dir);
    port = await freePort();
    redis = await startRedis({
      // The helper waits for a plain-text PING on `port`; TLS goes on another port.
      args: [
        "--tls-port",
        String(port),
        "--tls-cert-file",
        path.join(dir, "redis.crt"),
        "--tls-key-file",
        path.join(dir, "redis.key"),
        "--tls-ca-cert-file",
        path.join(dir, "ca.crt"),
        "--tls-auth-clients",
        "no",
        // A user with a password (the default user stays open for the helper's plain PING).
        "--user",
        "chat",
        "on",
        `>${PASSWORD}`,
        "~*",
        "&*",
        "+@all",
      ],
    });
  });

  after(async () => {
    closeAll();
    await Promise.all(hosts.map((h) => h.stop()));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("refuses to start without the CA: one line naming the address", () => {
    const result = spawnSync(
      process.execPath,
      [
        CLI,
        "start",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--redis",
        `rediss://chat:${PASSWORD}@localhost:${port}`,
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.notEqual(result.status, 0);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? "", new RegExp(`--redis: cannot reach Redis at localhost:${port}: `));
    assert.match(lines[0] ?? "", /certificate/);
  });

  it("chats between two hosts over TLS, by name and by IP address, with nothing but JSON logs", async () => {
    const prefix = randomPrefix();
    for (const [nodeId, address] of [
      ["by-name", "localhost"],
      ["by-ip", "127.0.0.1"],
    ] as const) {
      hosts.push(
        await startChatServer({
          workers: 1,
          env: { NODE_EXTRA_CA_CERTS: path.join(dir, "ca.crt") },
          args: [
            "--redis",
            `rediss://chat:${PASSWORD}@${address}:${port}`,
            "--redis-prefix",
            prefix,
            "--node-id",
            nodeId,
          ],
        }),
      );
    }
    const [a, b] = hosts as [ChatServer, ChatServer];
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const aliceClient = await connectAs(a.url, alice, { transport: "websocket" });
    const bobClient = await connectAs(b.url, bob, { transport: "websocket" });
    const answer = await send(aliceClient, bob, "over TLS");
    assert.ok(answer.ok && answer.status === "delivered", JSON.stringify(answer));
    await waitForMessages(bobClient, (m) => m.some((x) => x.id === answer.id));
    for (const host of hosts) {
      const other = host.output.filter((line) => !line.startsWith("{"));
      assert.deepEqual(other, [], "lines that are not JSON logs");
    }
  });
});
