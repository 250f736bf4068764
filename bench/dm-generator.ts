/**
 * A direct-message load generator (a child process of the benchmark; see dm-messages.ts).
 *
 * Open loop: message k of this generator is due at startUs + k / rate, whatever the server
 * does; the generator never waits for answers. Each message's text starts with its due time,
 * so the receiving client (in whichever generator holds it) measures delivery latency from
 * when the message should have left, which also charges the server for any backlog it causes.
 */
import type { Socket } from "socket.io-client";
import type { NewMessage, SendMessageAnswer } from "../src/protocol.js";
import { ClientFailure, connectAndLogIn, forEachLimited, tally } from "./client.js";
import { nowUs, sleepUntil } from "./clock.js";
import {
  type DmCommand,
  type DmCounters,
  type DmReply,
  type DmRun,
  type DmSetup,
  zeroCounters,
} from "./dm-messages.js";
import { encode, newHistogram } from "./latency.js";
import { createLoopMonitor } from "./loop-delay.js";
import { ownCpuUs } from "./proc-stats.js";

const counters: DmCounters = zeroCounters();
const histogram = newHistogram();
const loopDelay = createLoopMonitor();
/** Sockets by user index relative to setup.first (undefined where connecting failed). */
const clients: (Socket | undefined)[] = [];
let setup: DmSetup | undefined;
let windowStartUs = Number.POSITIVE_INFINITY;
let windowEndUs = Number.POSITIVE_INFINITY;
let sending = false;
/** Every message due in the window has been sent (see DmProgress). */
let windowSent = false;
let sendLagMaxUs = 0;
let cpuAtWindowStart = 0;
let cpuInWindow = 0;
let progressTimer: NodeJS.Timeout | undefined;

function reply(message: DmReply): void {
  process.send?.(message);
}

function onNewMessage(username: string, message: NewMessage): void {
  const receivedUs = nowUs();
  // Only the recipient's copy counts: a copy to the sender's other sessions (none here, one
  // session per user) is not a delivery.
  if (message.to !== username) {
    if (message.from !== username) counters.misrouted++;
    return;
  }
  const sentUs = Number.parseInt(message.message, 10);
  if (receivedUs >= windowStartUs && receivedUs < windowEndUs) counters.receivedInWindow++;
  if (sentUs >= windowStartUs && sentUs < windowEndUs) {
    counters.delivered++;
    histogram.recordValue(Math.max(1, receivedUs - sentUs));
  }
}

async function connectAll(command: DmSetup): Promise<void> {
  setup = command;
  const failures: Record<string, number> = {};
  let connected = 0;
  await forEachLimited(command.count, command.concurrency, async (i) => {
    const username = `u${command.first + i}`;
    const url = command.urls[(command.first + i) % command.urls.length] as string;
    try {
      const socket = await connectAndLogIn(url, username, {
        transport: command.transport,
        timeoutMs: 20_000,
      });
      socket.on("new message", (message: NewMessage) => onNewMessage(username, message));
      socket.on("chat error", () => counters.errors++);
      socket.on("disconnect", () => counters.disconnects++);
      clients[i] = socket;
      connected++;
    } catch (error) {
      tally(failures, error instanceof ClientFailure ? error.message : String(error));
    }
  });
  reply({ type: "ready", connected, failed: command.count - connected, failures });
}

function padding(bytes: number): string {
  return bytes > 20 ? " ".padEnd(bytes - 20, "x") : "";
}

async function run(command: DmRun): Promise<void> {
  const config = setup;
  if (!config) throw new Error("run before setup");
  const live = clients.flatMap((socket, i) =>
    socket ? [{ socket, index: config.first + i }] : [],
  );
  windowStartUs = command.windowStartUs;
  windowEndUs = command.windowEndUs;
  const pad = padding(config.messageBytes);
  const intervalUs = 1e6 / command.rate;
  // Progress goes on after sending stops, while the benchmark waits for the last deliveries.
  const progress = () => reply({ type: "progress", ...counters, windowSent });
  progressTimer = setInterval(progress, 250);
  setTimeout(
    () => {
      loopDelay.enable();
      cpuAtWindowStart = ownCpuUs();
    },
    (command.windowStartUs - nowUs()) / 1000,
  );
  await sleepUntil(command.startUs);
  sending = live.length > 0 && config.total > 1;
  let k = 0;
  while (sending) {
    const now = nowUs();
    let dueUs = command.startUs + k * intervalUs;
    for (; dueUs <= now && dueUs < windowEndUs; dueUs = command.startUs + k * intervalUs) {
      sendLagMaxUs = Math.max(sendLagMaxUs, now - dueUs);
      sendOne(live, config.total, Math.round(dueUs), pad);
      k++;
    }
    if (dueUs >= windowEndUs) break;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  sending = false;
  windowSent = true;
  progress();
  loopDelay.disable();
  cpuInWindow = ownCpuUs() - cpuAtWindowStart;
}

function sendOne(
  live: { socket: Socket; index: number }[],
  total: number,
  dueUs: number,
  pad: string,
): void {
  const sender = live[Math.floor(Math.random() * live.length)] as (typeof live)[number];
  let to = Math.floor(Math.random() * (total - 1));
  if (to >= sender.index) to++;
  const measured = dueUs >= windowStartUs && dueUs < windowEndUs;
  if (measured) counters.sent++;
  sender.socket.emit(
    "send message",
    { username: `u${to}`, message: `${dueUs}${pad}` },
    (answer: SendMessageAnswer) => {
      if (!answer?.ok) counters.errors++;
      else if (measured) counters.acked++;
    },
  );
}

function finish(): void {
  sending = false;
  clearInterval(progressTimer);
  reply({
    type: "result",
    ...counters,
    clients: clients.filter(Boolean).length,
    histogram: encode(histogram),
    loopDelayP99Ms: loopDelay.p99Ms(),
    loopDelayMaxMs: loopDelay.maxMs(),
    cpuCores: cpuInWindow / Math.max(1, windowEndUs - windowStartUs),
    sendLagMaxMs: sendLagMaxUs / 1000,
  });
}

function close(): void {
  for (const socket of clients) socket?.disconnect();
  process.exit(0);
}

process.on("message", (command: DmCommand) => {
  switch (command.type) {
    case "setup":
      void connectAll(command);
      break;
    case "run":
      void run(command);
      break;
    case "finish":
      finish();
      break;
    case "close":
      close();
      break;
  }
});
process.on("disconnect", () => process.exit(0));
