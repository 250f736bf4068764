/**
 * The primary's side of embedded mode: it holds presence and inboxes (so they outlive any
 * worker), stores each message in its recipient's inbox, and forwards it to the workers holding
 * the recipient, and to no other. It tells every worker who comes online and goes offline, so
 * workers answer `list users` and the delivery status themselves. Requests and forwards cross
 * IPC in per-turn batches.
 */
import type { HubRequest, HubResponse } from "../cluster/ipc.js";
import { MemoryInbox } from "../inbox/memory-inbox.js";
import { PresenceTable } from "../presence/presence-table.js";
import { TurnBatcher } from "./turn-batcher.js";

const INBOX_SIZE = 1000;
const INBOX_AGE_MS = 7 * 24 * 3600 * 1000;

export interface HubStats {
  /** Chat messages stored. */
  messages: number;
  /** IPC batches sent to workers. */
  batchesOut: number;
}

export class EmbeddedHub {
  readonly presence = new PresenceTable();
  readonly inbox = new MemoryInbox({ maxPerUser: INBOX_SIZE, maxAgeMs: INBOX_AGE_MS });
  readonly stats: HubStats = { messages: 0, batchesOut: 0 };
  private readonly outboxes = new Map<number, TurnBatcher<HubResponse>>();
  /** Workers that got the presence snapshot and so take presence changes. */
  private readonly synced = new Set<number>();
  private readonly presenceChanges = new TurnBatcher<[boolean, string]>((changes) =>
    this.broadcastPresence(changes),
  );
  private readonly sweepTimer: NodeJS.Timeout;

  /** `sendToWorker` posts one batch of operations to a worker. */
  constructor(private readonly sendToWorker: (workerId: number, ops: HubResponse[]) => void) {
    this.sweepTimer = setInterval(() => this.inbox.sweep(), 3600_000).unref();
  }

  handle(workerId: number, ops: HubRequest[]): void {
    for (const op of ops) {
      switch (op[0]) {
        case "join":
          if (this.presence.add(op[1], workerId)) this.presenceChanges.push([true, op[1]]);
          break;
        case "leave":
          if (this.presence.remove(op[1], workerId)) this.presenceChanges.push([false, op[1]]);
          break;
        case "send":
          this.store(op[1], op[2], op[3], op[4], op[5]);
          break;
        case "replay":
          this.post(workerId, ["replayed", op[1], this.inbox.replay(op[2], op[3] ?? undefined)]);
          break;
      }
    }
  }

  /** A worker is ready: from now on it follows presence, starting from a full snapshot. */
  workerReady(workerId: number): void {
    this.presenceChanges.flush();
    this.synced.add(workerId);
    this.post(workerId, ["presence", this.presence.list(Number.POSITIVE_INFINITY)]);
  }

  /** A worker is gone: its users are offline now, unless they have a session elsewhere. */
  workerGone(workerId: number): void {
    this.synced.delete(workerId);
    this.outboxes.delete(workerId);
    for (const user of this.presence.removeWorker(workerId))
      this.presenceChanges.push([false, user]);
  }

  close(): void {
    clearInterval(this.sweepTimer);
  }

  private store(id: string, from: string, to: string, text: string, sentAt: number): void {
    const message = { id, from, to, message: text, sentAt };
    const workers = this.presence.workersOf(to);
    this.inbox.append(message, workers !== undefined);
    if (workers) for (const worker of workers) this.post(worker, ["deliver", message]);
    this.stats.messages++;
  }

  private broadcastPresence(changes: [boolean, string][]): void {
    const online = changes
      .filter(([on, user]) => on && this.presence.workersOf(user))
      .map(([, u]) => u);
    const offline = changes
      .filter(([on, user]) => !on && !this.presence.workersOf(user))
      .map(([, u]) => u);
    for (const worker of this.synced) {
      if (online.length > 0) this.post(worker, ["online", online]);
      if (offline.length > 0) this.post(worker, ["offline", offline]);
    }
  }

  private post(workerId: number, op: HubResponse): void {
    let outbox = this.outboxes.get(workerId);
    if (!outbox) {
      outbox = new TurnBatcher((ops) => {
        this.stats.batchesOut++;
        this.sendToWorker(workerId, ops);
      });
      this.outboxes.set(workerId, outbox);
    }
    outbox.push(op);
  }
}
