/**
 * The primary's side of embedded mode: it holds presence and inboxes (so they outlive any
 * worker), gives each message its id, stores it, and forwards it to the workers holding the
 * recipient, and to no other. Requests and answers cross IPC in per-turn batches.
 */

import type { HubRequest, HubResponse } from "../cluster/ipc.js";
import { MemoryInbox } from "../inbox/memory-inbox.js";
import { MessageIdGenerator } from "../inbox/message-id.js";
import { PresenceTable } from "../presence/presence-table.js";
import type { NewMessage } from "../protocol.js";
import { TurnBatcher } from "./turn-batcher.js";

const INBOX_SIZE = 1000;
const INBOX_AGE_MS = 7 * 24 * 3600 * 1000;

export interface HubStats {
  /** Chat messages accepted. */
  messages: number;
  /** IPC batches sent to workers. */
  batchesOut: number;
}

export class EmbeddedHub {
  readonly presence = new PresenceTable();
  readonly inbox = new MemoryInbox({ maxPerUser: INBOX_SIZE, maxAgeMs: INBOX_AGE_MS });
  readonly stats: HubStats = { messages: 0, batchesOut: 0 };
  private readonly ids = new MessageIdGenerator();
  private readonly outboxes = new Map<number, TurnBatcher<HubResponse>>();
  private readonly sweepTimer: NodeJS.Timeout;

  /** `send` posts one batch of answers to a worker. */
  constructor(private readonly sendToWorker: (workerId: number, ops: HubResponse[]) => void) {
    this.sweepTimer = setInterval(() => this.inbox.sweep(), 3600_000).unref();
  }

  handle(workerId: number, ops: HubRequest[]): void {
    for (const op of ops) {
      switch (op[0]) {
        case "join":
          this.presence.add(op[1], workerId);
          break;
        case "leave":
          this.presence.remove(op[1], workerId);
          break;
        case "send":
          this.send(workerId, op[1], op[2], op[3], op[4]);
          break;
        case "replay":
          this.post(workerId, ["replayed", op[1], this.inbox.replay(op[2], op[3] ?? undefined)]);
          break;
        case "list":
          this.post(workerId, ["listed", op[1], this.presence.list(op[2])]);
          break;
      }
    }
  }

  /** A worker is gone: its users are offline now. */
  workerGone(workerId: number): void {
    this.presence.removeWorker(workerId);
    this.outboxes.delete(workerId);
  }

  close(): void {
    clearInterval(this.sweepTimer);
  }

  private send(fromWorker: number, ref: number, from: string, to: string, text: string): void {
    const sentAt = Date.now();
    const message: NewMessage = { id: this.ids.next(sentAt), from, to, message: text, sentAt };
    const workers = this.presence.workersOf(to);
    const delivered = workers !== undefined && workers.size > 0;
    this.inbox.append(message, delivered);
    if (workers) for (const worker of workers) this.post(worker, ["deliver", message]);
    this.post(fromWorker, ["sent", ref, message.id, delivered ? 1 : 0, sentAt]);
    this.stats.messages++;
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
