/**
 * The presence scenario: `watchers` logged-in clients each watch `watchesPerWatcher` of
 * `subjects` users, and the subjects log in and out in turn at `rate` changes per second (one
 * session each, so every log in is their first session and every log out their last). Clients
 * use the first two hosts; with more hosts the rest are idle members of the cluster, watching
 * nobody. Measures the server's CPU (every host, and Redis) per `presence` event delivered,
 * and reads each host's chat_presence_unwatched_total: presence changes that reached a worker
 * where nobody watches the user, which should stay 0 however many hosts there are.
 */
import { io, type Socket } from "socket.io-client";
import { nowUs, sleepUntil } from "./clock.js";
import { endLoadWindow, loadNotes, machineLoad, startLoadWindow } from "./machine-load.js";
import { cpuBetween, sampleTree } from "./proc-stats.js";
import type { MachineLoad, RunIdentity } from "./results.js";
import { scrapeCounters } from "./server-metrics.js";
import type { RunningServer } from "./server-process.js";

export interface PresenceOptions {
  watchers: number;
  subjects: number;
  watchesPerWatcher: number;
  /** Presence changes per second (log ins and log outs together). */
  rate: number;
  durationS: number;
  warmupS: number;
  progress(line: string): void;
}

export interface PresenceResult extends RunIdentity, MachineLoad {
  scenario: "presence";
  watchers: number;
  subjects: number;
  /** Log ins and log outs of subjects in the window. */
  changes: number;
  /** `presence` events the watchers received in the window. */
  events: number;
  /** Events the changes should have caused (each change x the subject's watchers). */
  expectedEvents: number;
  /** Server process trees' CPU (all hosts and Redis) in the window / events. */
  cpuUsPerEvent: number;
  serverCores: number;
  /** Of cpuUsPerEvent, what the idle hosts (3 to H, no clients, watching nobody) used. */
  idleHostsUsPerEvent: number;
  /** chat_presence_unwatched_total over every host, in the window. */
  unwatchedTouches: number;
  notes: string[];
}

const ACK_TIMEOUT_MS = 10_000;

function open(url: string): Socket {
  return io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
}

async function ask(socket: Socket, event: string, payload?: unknown): Promise<void> {
  const answer = (await socket
    .timeout(ACK_TIMEOUT_MS)
    .emitWithAck(event, ...(payload === undefined ? [] : [payload]))) as {
    ok: boolean;
    error?: { code: string };
  };
  if (!answer.ok) throw new Error(`${event} refused: ${answer.error?.code}`);
}

/** The subjects watcher `i` watches: spread evenly, so each subject has the same watchers. */
function subjectsOf(i: number, options: PresenceOptions): number[] {
  return Array.from(
    { length: options.watchesPerWatcher },
    (_, k) => (i * options.watchesPerWatcher + k) % options.subjects,
  );
}

export async function runPresenceLoad(
  id: RunIdentity,
  server: RunningServer,
  options: PresenceOptions,
): Promise<PresenceResult> {
  const tag = Math.random().toString(36).slice(2, 7);
  const subjectName = (j: number) => `ps${tag}${j}`;
  const sockets: Socket[] = [];
  let events = 0;
  const watchersOf = new Array<number>(options.subjects).fill(0);
  try {
    options.progress(`${id.label}: ${options.watchers} watchers logging in and watching`);
    const urls = server.clientUrls;
    for (let i = 0; i < options.watchers; i++) {
      const socket = open(urls[i % urls.length] as string);
      sockets.push(socket);
      socket.on("presence", () => {
        events++;
      });
      await ask(socket, "log in", { username: `pw${tag}${i}` });
      const watched = subjectsOf(i, options);
      for (const j of watched) watchersOf[j] = (watchersOf[j] ?? 0) + 1;
      await ask(socket, "watch", { usernames: watched.map(subjectName) });
    }
    const subjects = Array.from({ length: options.subjects }, (_, j) => {
      const socket = open(urls[j % urls.length] as string);
      sockets.push(socket);
      return { socket, online: false };
    });
    await Promise.all(
      subjects.map(({ socket }) =>
        socket.connected
          ? undefined
          : new Promise<void>((resolve) => socket.once("connect", () => resolve())),
      ),
    );

    // Changes go out at a fixed rate, round-robin over the subjects (one subject changes again
    // only `subjects / rate` seconds later); the window counts what they caused.
    let next = 0;
    let changes = 0;
    let expected = 0;
    const intervalUs = 1e6 / options.rate;
    const churn = async (untilMs: number, counting: boolean) => {
      let dueUs = nowUs();
      while (performance.now() < untilMs) {
        await sleepUntil(dueUs);
        dueUs += intervalUs;
        const j = next++ % options.subjects;
        const subject = subjects[j];
        if (!subject) continue;
        subject.online = !subject.online;
        if (counting) {
          changes++;
          expected += watchersOf[j] ?? 0;
        }
        void (
          subject.online
            ? ask(subject.socket, "log in", { username: subjectName(j) })
            : ask(subject.socket, "log out")
        ).catch(() => {});
      }
    };
    options.progress(`${id.label}: warming up`);
    await churn(performance.now() + options.warmupS * 1000, false);
    const hostUrls = server.hostUrls ?? [server.url];
    const countersBefore = await Promise.all(hostUrls.map((url) => scrapeCounters(url)));
    const eventsBefore = events;
    const treeBefore = sampleTree(server.roots);
    // The roots are the hosts in order, then Redis: hosts 3 to H have no clients.
    const idleRoots = server.roots.slice(server.clientUrls.length, server.hosts);
    const idleBefore = sampleTree(idleRoots);
    const load = startLoadWindow();
    options.progress(`${id.label}: measuring ${options.durationS} s`);
    await churn(performance.now() + options.durationS * 1000, true);
    const treeAfter = sampleTree(server.roots);
    const idleAfter = sampleTree(idleRoots);
    const span = endLoadWindow(load);
    // Events of the window's last changes are still on their way: wait a moment for them.
    const settleUntil = performance.now() + 2000;
    while (events - eventsBefore < expected && performance.now() < settleUntil) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const windowEvents = events - eventsBefore;
    const countersAfter = await Promise.all(hostUrls.map((url) => scrapeCounters(url)));
    let unwatched = 0;
    countersAfter.forEach((after, h) => {
      const name = "chat_presence_unwatched_total";
      unwatched += (after?.get(name) ?? 0) - (countersBefore[h]?.get(name) ?? 0);
    });
    const cpuUs = cpuBetween(treeBefore, treeAfter);
    const serverCores = cpuUs / (options.durationS * 1e6);
    const machine = machineLoad(span, serverCores);
    const notes = loadNotes(machine);
    if (windowEvents < expected) {
      notes.push(`${expected - windowEvents} of ${expected} expected events did not arrive`);
    }
    return {
      ...id,
      ...machine,
      scenario: "presence",
      watchers: options.watchers,
      subjects: options.subjects,
      changes,
      events: windowEvents,
      expectedEvents: expected,
      cpuUsPerEvent: windowEvents > 0 ? cpuUs / windowEvents : Number.NaN,
      idleHostsUsPerEvent:
        windowEvents > 0 ? cpuBetween(idleBefore, idleAfter) / windowEvents : Number.NaN,
      serverCores,
      unwatchedTouches: unwatched,
      notes,
    };
  } finally {
    for (const socket of sockets) socket.disconnect();
  }
}

/** The presence runs as a small table, with each run's CPU per event against the first run. */
export function renderPresence(results: PresenceResult[]): string {
  if (results.length === 0) return "";
  const base = results[0]?.cpuUsPerEvent ?? Number.NaN;
  const width = Math.max(3, ...results.map((r) => r.label.length));
  const rows = results.map((r) =>
    [
      r.label.padEnd(width),
      `${r.events}/${r.expectedEvents}`.padStart(13),
      r.cpuUsPerEvent.toFixed(1).padStart(10),
      `${(r.cpuUsPerEvent / base).toFixed(2)}x`.padStart(8),
      r.idleHostsUsPerEvent.toFixed(1).padStart(9),
      String(r.unwatchedTouches).padStart(10),
      r.notes.join("; "),
    ].join("  "),
  );
  return [
    "presence: watchers follow subjects logging in and out (events delivered / expected;",
    "server CPU per delivered event, all hosts and Redis; of it, what the idle hosts used;",
    "unwatched = changes that reached a worker watching nobody)",
    `${"run".padEnd(width)}  ${"events".padStart(13)}  ${"us/event".padStart(10)}  ${"vs first".padStart(8)}  ${"idle us".padStart(9)}  ${"unwatched".padStart(10)}  notes`,
    ...rows,
  ].join("\n");
}
