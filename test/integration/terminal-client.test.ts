/**
 * `chat-server client` as a user runs it: real client processes against a real server, lines
 * piped into stdin, output read from stdout and stderr.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { type ChatServer, CLI, startChatServer } from "../helpers/chat-server.js";
import {
  closeAll,
  connectAs,
  listUsers,
  send,
  uniqueName,
  waitForMessages,
} from "../helpers/clients.js";
import { killOnExit } from "../helpers/processes.js";
import { signTestToken } from "../helpers/tokens.js";
import { eventually, within } from "../helpers/wait.js";

const MAX_BYTES = 64;

/** A running `chat-server client` with its output collected line by line. */
class ClientProcess {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(url: string, user: string, extra: string[] = []) {
    this.proc = spawn(process.execPath, [CLI, "client", "--url", url, "--user", user, ...extra]);
    killOnExit(this.proc);
    collectLines(this.proc.stdout, this.stdout);
    collectLines(this.proc.stderr, this.stderr);
    this.exited = once(this.proc, "exit").then(([code]) => code as number | null);
  }

  write(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  /** Ends stdin and waits for the exit status (15 s at most). */
  async end(): Promise<number | null> {
    this.proc.stdin.end();
    return within(15_000, "the client to exit", this.exited);
  }

  async waitForStdout(line: string, timeoutMs = 15_000): Promise<void> {
    await eventually(() => assert.ok(this.stdout.includes(line), this.describe()), timeoutMs);
  }

  async waitForStderr(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    await eventually(
      () =>
        assert.ok(
          this.stderr.some((l) => pattern.test(l)),
          this.describe(),
        ),
      timeoutMs,
    );
  }

  describe(): string {
    return `stdout: ${JSON.stringify(this.stdout)}\nstderr: ${JSON.stringify(this.stderr)}`;
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

function collectLines(stream: NodeJS.ReadableStream, into: string[]): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    into.push(...parts);
  });
}

/** Runs a client with the given stdin (ended at once) to completion. */
async function runPiped(url: string, user: string, input: string, extra: string[] = []) {
  const client = new ClientProcess(url, user, extra);
  client.proc.stdin.end(input);
  const code = await within(15_000, "the client to exit", client.exited);
  return { code, stdout: client.stdout, stderr: client.stderr };
}

/** A TCP relay the test can cut, to take a client's connection away without touching the server. */
async function startRelay(targetPort: number) {
  const open = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((incoming) => {
    if (!up) {
      incoming.destroy();
      return;
    }
    const outgoing = net.connect(targetPort, "127.0.0.1");
    for (const socket of [incoming, outgoing]) {
      open.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        open.delete(socket);
        incoming.destroy();
        outgoing.destroy();
      });
    }
    incoming.pipe(outgoing).pipe(incoming);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      up = false;
      for (const socket of open) socket.destroy();
    },
    restore() {
      up = true;
    },
    close() {
      for (const socket of open) socket.destroy();
      server.close();
    },
  };
}

describe("terminal client (chat-server client)", () => {
  let server: ChatServer;
  const clients: ClientProcess[] = [];
  const track = (client: ClientProcess) => {
    clients.push(client);
    return client;
  };

  before(async () => {
    server = await startChatServer({
      workers: 2,
      args: ["--max-message-bytes", String(MAX_BYTES), "--rate-limit", "1000"],
    });
  });

  after(async () => {
    for (const client of clients) client.kill();
    closeAll();
    await server?.stop();
  });

  async function waitOnline(user: string): Promise<void> {
    const watcher = await connectAs(server.url, uniqueName("watch"));
    await eventually(async () => {
      const answer = await listUsers(watcher);
      assert.ok(answer.ok && answer.users.includes(user), `${user} not online yet`);
    });
    watcher.disconnect();
  }

  it("`echo 'bob: hi' | chat-server client` sends, waits for the answer, and exits 0", async () => {
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const reader = track(new ClientProcess(server.url, bob));
    await waitOnline(bob);
    const result = await runPiped(server.url, alice, `${bob}: hello from a pipe\n`);
    assert.equal(result.code, 0, result.stderr.join("\n"));
    assert.deepEqual(result.stdout, []);
    assert.deepEqual(result.stderr, []);
    await reader.waitForStdout(`${alice}: hello from a pipe`);
    assert.equal(await reader.end(), 0);
  });

  it("two long-running clients chat both ways, over WebSocket and over long-polling", async () => {
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const a = track(new ClientProcess(server.url, alice, ["--transport", "websocket"]));
    const b = track(new ClientProcess(server.url, bob, ["--transport", "polling"]));
    await waitOnline(alice);
    await waitOnline(bob);
    a.write(`${bob}: ping: are you there?`);
    await b.waitForStdout(`${alice}: ping: are you there?`);
    b.write(`${alice}: pong`);
    await a.waitForStdout(`${bob}: pong`);
    for (let i = 0; i < 20; i++) a.write(`${bob}: n${i}`);
    await b.waitForStdout(`${alice}: n19`);
    const numbered = b.stdout.filter((line) => line.startsWith(`${alice}: n`));
    assert.deepEqual(
      numbered,
      Array.from({ length: 20 }, (_, i) => `${alice}: n${i}`),
      "in order, each once",
    );
    assert.equal(await a.end(), 0);
    assert.equal(await b.end(), 0);
    assert.deepEqual([...a.stderr, ...b.stderr], []);
  });

  it("messages to an offline user are kept and printed, oldest first, when they next log in", async () => {
    const alice = uniqueName("alice");
    const carol = uniqueName("carol");
    const sent = await runPiped(
      server.url,
      alice,
      `${carol}: one\n${carol}: two\n${carol}: three\n`,
    );
    assert.equal(sent.code, 0, sent.stderr.join("\n"));
    // Nothing to send: carol's client logs in, prints what was kept for her, and exits.
    const read = await runPiped(server.url, carol, "");
    assert.equal(read.code, 0, read.stderr.join("\n"));
    assert.deepEqual(read.stdout, [`${alice}: one`, `${alice}: two`, `${alice}: three`]);
  });

  it("prints each problem as one plain line on stderr and exits 1, sending the good lines", async () => {
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const input = [
      "just some words",
      "bob smith: hi",
      `${bob}: ${"x".repeat(MAX_BYTES + 1)}`,
      `${bob}: this one is fine`,
      "",
    ].join("\n");
    const result = await runPiped(server.url, alice, input);
    assert.equal(result.code, 1);
    assert.deepEqual(result.stdout, []);
    assert.equal(result.stderr.length, 3, result.stderr.join("\n"));
    assert.match(
      result.stderr[0] ?? "",
      /^chat-server client: cannot send that line: expected `recipient: text`$/,
    );
    assert.match(result.stderr[1] ?? "", /"bob smith" is not a username/);
    assert.match(
      result.stderr[2] ?? "",
      new RegExp(`could not send to ${bob}: .*too long.*\\(MESSAGE_TOO_LARGE\\)$`),
    );
    for (const line of result.stderr) assert.doesNotMatch(line, /\n|at .*\.js/);
    const read = await runPiped(server.url, bob, "");
    assert.deepEqual(read.stdout, [`${alice}: this one is fine`]);
  });

  it("skips an input line over 1 MiB (such as /dev/zero's endless one) with one line on stderr, and sends the rest", async () => {
    const alice = uniqueName("alice");
    const bob = uniqueName("bob");
    const zeros = "\0".repeat(3 * 1024 * 1024);
    const result = await runPiped(server.url, alice, `${zeros}\n${bob}: after the zeros\n`);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.length, 1, result.stderr.join("\n"));
    assert.match(
      result.stderr[0] ?? "",
      /^chat-server client: cannot send a line over \d+ bytes: skipped$/,
    );
    const read = await runPiped(server.url, bob, "");
    assert.deepEqual(read.stdout, [`${alice}: after the zeros`]);
  });

  it("refuses a bad --user or --url with one line and exit status 2", async () => {
    const badUser = await runPiped(server.url, "no spaces allowed", "");
    assert.equal(badUser.code, 2);
    assert.deepEqual(badUser.stderr, [
      "chat-server client: --user must be 1-32 characters of A-Z a-z 0-9 _ . -",
    ]);
    const badUrl = await runPiped("not a url", "alice", "");
    assert.equal(badUrl.code, 2);
    assert.equal(badUrl.stderr.length, 1);
    assert.match(badUrl.stderr[0] ?? "", /--url/);
  });

  it("after a lost connection, logs in again with `since` and prints what it missed, once", async () => {
    const relay = await startRelay(server.port);
    try {
      const alice = uniqueName("alice");
      const bob = uniqueName("bob");
      const terminal = track(new ClientProcess(relay.url, bob, ["--transport", "websocket"]));
      await waitOnline(bob);
      // A second session of bob (another device) keeps bob online while the terminal is cut
      // off, so what alice sends meanwhile is delivered there, not stored for later: only
      // `since` can bring it to the terminal.
      const otherDevice = await connectAs(server.url, bob);
      const sender = await connectAs(server.url, alice);

      assert.equal((await send(sender, bob, "before")).ok, true);
      await terminal.waitForStdout(`${alice}: before`);

      relay.cut();
      await terminal.waitForStderr(/connection lost/);
      const missed = await send(sender, bob, "while cut off");
      assert.deepEqual(missed.ok && missed.status, "delivered");
      await waitForMessages(otherDevice, (received) =>
        received.some((m) => m.message === "while cut off"),
      );

      relay.restore();
      await terminal.waitForStdout(`${alice}: while cut off`, 20_000);
      assert.equal((await send(sender, bob, "after")).ok, true);
      await terminal.waitForStdout(`${alice}: after`);

      assert.deepEqual(terminal.stdout, [
        `${alice}: before`,
        `${alice}: while cut off`,
        `${alice}: after`,
      ]);
      assert.equal(await terminal.end(), 0);
    } finally {
      relay.close();
    }
  });
});

describe("terminal client with a server that requires tokens", () => {
  const secret = "terminal-client-test-secret-0123456789";
  let server: ChatServer;

  before(async () => {
    server = await startChatServer({ workers: 1, args: ["--auth-secret", secret] });
  });

  after(async () => {
    closeAll();
    await server?.stop();
  });

  it("is refused without --token (one line, exit 1) and sends with a valid one", async () => {
    const alice = uniqueName("alice");
    const refused = await runPiped(server.url, alice, "bob: hi\n");
    assert.equal(refused.code, 1);
    assert.deepEqual(refused.stderr, [
      `chat-server client: cannot log in as ${alice}: the server did not accept the token for this username (UNAUTHORIZED)`,
    ]);
    const token = await signTestToken(secret, alice);
    const accepted = await runPiped(server.url, alice, "bob: hi\n", ["--token", token]);
    assert.equal(accepted.code, 0, accepted.stderr.join("\n"));
    assert.deepEqual(accepted.stderr, []);
  });
});
