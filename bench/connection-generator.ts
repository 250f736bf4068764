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
const onDrop = () => dropped++;

function open(command: ConnectionRun, index: number): Promise<{ close(): void }> {
  const username = `c${index}`;
  const localAddress = command.localAddresses[index % command.localAddresses.length];
  if (command.client === "lean") {
    return openLeanSession(command.url, username, {
      localAddress,
      timeoutMs: command.timeoutMs,
      onDrop,
    });
  }
  return connectAndLogIn(command.url, username, {
    transport: "websocket",
    localAddress,
    timeoutMs: command.timeoutMs,
  }).then((socket: Socket) => {
    socket.on("disconnect", onDrop);
    return {
      close() {
        socket.off("disconnect", onDrop);
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

process.on("message", (command: ConnectionCommand) => {
  if (command.type === "run") void run(command);
  else if (command.type === "close") process.exit(0);
});
process.on("disconnect", () => process.exit(0));
