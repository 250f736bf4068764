/**
 * A connection-load generator (a child process of the benchmark; see connection-messages.ts):
 * opens its share of logged-in WebSocket sessions at a bounded concurrency and holds them.
 */
import type { Socket } from "socket.io-client";
import { ClientFailure, connectAndLogIn, forEachLimited, tally } from "./client.js";
import { nowUs } from "./clock.js";
import type { ConnectionCommand, ConnectionReply, ConnectionRun } from "./connection-messages.js";
import { encode, newHistogram } from "./latency.js";
import { openLeanSession } from "./lean-client.js";
import { createLoopMonitor } from "./loop-delay.js";
import { ownCpuUs } from "./proc-stats.js";

const sessions: { close(): void }[] = [];
/** Sessions that closed after logging in, before the run ended. */
let dropped = 0;
/** The run's command, kept to reopen sessions during a storm. */
let current: ConnectionRun | undefined;

/** The reconnect storm (storm-load.ts): every session cut from now on is opened again. */
const storm = {
  on: false,
  cut: 0,
  back: 0,
  failedAttempts: 0,
  failures: {} as Record<string, number>,
  lastBackUs: 0,
};
/**
 * Socket.IO's default reconnection delay before attempt n (1, 2, ...): 1 s doubling up to 5 s,
 * each randomized by half either way.
 */
const reconnectDelayMs = (attempt: number) =>
  Math.min(1000 * 2 ** (attempt - 1), 5000) * (0.5 + Math.random());

function onDrop(index: number): void {
  dropped++;
  if (!storm.on || !current) return;
  storm.cut++;
  const command = current;
  let attempt = 1;
  const reopen = () => {
    open(command, index, { reconnect: true }).then(
      (session) => {
        sessions.push(session);
        storm.back++;
        storm.lastBackUs = nowUs();
      },
      (error: unknown) => {
        storm.failedAttempts++;
        tally(storm.failures, error instanceof ClientFailure ? error.message : String(error));
        setTimeout(reopen, reconnectDelayMs(++attempt));
      },
    );
  };
  setTimeout(reopen, reconnectDelayMs(attempt));
}

/**
 * Source ports are assigned, not searched for: session i uses address i mod k and port
 * FIRST_PORT + floor(i / k), unique per address across all generators, below the kernel's
 * ephemeral range (32768+) so that other programs' automatic ports rarely collide. A port
 * that is taken anyway is retried once with a kernel-chosen one.
 */
const FIRST_PORT = 10_000;
const LAST_PORT = 32_767;

async function open(
  command: ConnectionRun,
  index: number,
  { reconnect = false } = {},
): Promise<{ close(): void }> {
  const username = `c${index}`;
  const addresses = command.localAddresses.length;
  const localAddress = command.localAddresses[index % addresses];
  if (command.client === "lean") {
    const port = FIRST_PORT + Math.floor(index / addresses);
    const options = { localAddress, timeoutMs: command.timeoutMs, onDrop: () => onDrop(index) };
    // A reconnection lets the kernel pick the port: the assigned one may still be in TIME_WAIT.
    if (reconnect) return openLeanSession(command.url, username, options);
    try {
      return await openLeanSession(command.url, username, {
        ...options,
        localPort: port <= LAST_PORT ? port : undefined,
      });
    } catch (error) {
      if (!String((error as Error).message).includes("EADDRINUSE")) throw error;
      return openLeanSession(command.url, username, options);
    }
  }
  return connectAndLogIn(command.url, username, {
    transport: "websocket",
    localAddress,
    timeoutMs: command.timeoutMs,
  }).then((socket: Socket) => {
    const dropped = () => onDrop(index);
    socket.on("disconnect", dropped);
    return {
      close() {
        socket.off("disconnect", dropped);
        socket.disconnect();
      },
    };
  });
}

function reply(message: ConnectionReply): void {
  process.send?.(message);
}

async function run(command: ConnectionRun): Promise<void> {
  const histogram = newHistogram();
  const loopDelay = createLoopMonitor();
  const failures: Record<string, number> = {};
  let failed = 0;
  let lastUs = 0;
  const progress = setInterval(
    () => reply({ type: "progress", connected: sessions.length, failed }),
    500,
  );
  loopDelay.enable();
  const cpuBefore = ownCpuUs();
  const firstUs = nowUs();
  await forEachLimited(command.count, command.concurrency, async (i) => {
    const index = command.first + i;
    const startUs = nowUs();
    try {
      sessions.push(await open(command, index));
      lastUs = nowUs();
      histogram.recordValue(Math.max(1, lastUs - startUs));
    } catch (error) {
      failed++;
      tally(failures, error instanceof ClientFailure ? error.message : String(error));
    }
  });
  loopDelay.disable();
  clearInterval(progress);
  reply({ type: "progress", connected: sessions.length, failed });
  const elapsedUs = Math.max(1, nowUs() - firstUs);
  reply({
    type: "done",
    connected: sessions.length,
    failed,
    failures,
    dropped,
    firstUs,
    lastUs: lastUs || nowUs(),
    histogram: encode(histogram),
    loopDelayP99Ms: loopDelay.p99Ms(),
    loopDelayMaxMs: loopDelay.maxMs(),
    cpuCores: (ownCpuUs() - cpuBefore) / elapsedUs,
  });
}

function startStorm(): void {
  storm.on = true;
  reply({ type: "storm-armed" });
  setInterval(() => {
    const { cut, back, failedAttempts, failures, lastBackUs } = storm;
    reply({ type: "storm-progress", cut, back, failedAttempts, failures, lastBackUs });
  }, 250);
}

process.on("message", (command: ConnectionCommand) => {
  if (command.type === "run") {
    current = command;
    void run(command);
  } else if (command.type === "storm") startStorm();
  else if (command.type === "close") process.exit(0);
});
process.on("disconnect", () => process.exit(0));
