/**
 * The primary's side of embedded mode: it holds presence and inboxes (so they outlive any
 * worker), stores each message in its recipient's inbox, and forwards it to the recipient's
 * workers that the sender's worker did not reach itself (a session that just started, a peer
 * channel not open yet). It tells every worker who is online where, and how to reach each
 * other, so the workers route messages among themselves.
 */
import type { HubRequest, HubResponse } from "../cluster/ipc.js";
import { MemoryInbox } from "../inbox/memory-inbox.js";
import { PresenceTable } from "../presence/presence-table.js";
import type { NewMessage } from "../protocol.js";
import { TurnBatcher } from "./turn-batcher.js";

const INBOX_SIZE = 1000;
const INBOX_AGE_MS = 7 * 24 * 3600 * 1000;
/** Workers store a message within a few ms of delivering it; a second is ample. */
const REORDER_WINDOW_MS = 1000;

export interface HubStats {
  /** Chat messages stored. */
  messages: number;
  /** Messages the primary had to forward itself. */
  forwarded: number;
  /** IPC batches received from workers. */
  batchesIn: number;
  /** IPC batches sent to workers. */
  batchesOut: number;
}

export class EmbeddedHub {
  readonly presence = new PresenceTable();
  readonly inbox = new MemoryInbox({
    maxPerUser: INBOX_SIZE,
    maxAgeMs: INBOX_AGE_MS,
    reorderWindowMs: REORDER_WINDOW_MS,
  });
  readonly stats: HubStats = { messages: 0, forwarded: 0, batchesIn: 0, batchesOut: 0 };
  private readonly outboxes = new Map<number, TurnBatcher<HubResponse>>();
  /** Ready workers and their peer sockets; they follow presence from a full snapshot on. */
  private readonly peers = new Map<number, string>();
  private readonly moves = new TurnBatcher<[string, number, 0 | 1]>((moves) => {
    for (const worker of this.peers.keys()) this.post(worker, ["moves", moves]);
  });
  private readonly sweepTimer: NodeJS.Timeout;
  /** The message of the last `store`, which a `copy` right after it refers to. */
  private lastStored: NewMessage | undefined;

  /** `sendToWorker` posts one batch of operations to a worker. */
  constructor(private readonly sendToWorker: (workerId: number, ops: HubResponse[]) => void) {
    this.sweepTimer = setInterval(() => this.inbox.sweep(), 3600_000).unref();
  }

  handle(workerId: number, ops: HubRequest[]): void {
    this.stats.batchesIn++;
    for (const op of ops) {
      switch (op[0]) {
        case "join":
          if (this.presence.add(op[1], workerId)) this.moves.push([op[1], workerId, 1]);
          break;
        case "leave":
          if (this.presence.workersOf(op[1])?.includes(workerId))
            this.moves.push([op[1], workerId, 0]);
          this.presence.remove(op[1], workerId);
          break;
        case "store":
          this.store({ id: op[1], from: op[2], to: op[3], message: op[4], sentAt: op[5] }, op[6]);
          break;
        case "copy":
          this.copy(workerId, op[1], op[2]);
          break;
        case "typing":
          for (const worker of this.presence.workersOf(op[2]) ?? []) {
            if (worker !== workerId) this.post(worker, ["typing", op[1], op[2]]);
          }
          break;
        case "replay":
          this.post(workerId, ["replayed", op[1], this.inbox.replay(op[2], op[3] ?? undefined)]);
          break;
      }
    }
  }

  /** A worker is ready: it gets presence and its peers, and every worker learns of it. */
  workerReady(workerId: number, peerPath: string): void {
    this.moves.flush();
    this.peers.set(workerId, peerPath);
    const snapshot = this.presence
      .list(Number.POSITIVE_INFINITY)
      .map((user): [string, number[]] => [user, [...(this.presence.workersOf(user) ?? [])]]);
    this.post(workerId, ["presence", snapshot]);
    this.announcePeers();
  }

  /** A worker is gone: its users are offline now, unless they have a session elsewhere. */
  workerGone(workerId: number): void {
    const users = [...(this.presence.usersOf(workerId) ?? [])];
    this.presence.removeWorker(workerId);
    this.outboxes.delete(workerId);
    if (this.peers.delete(workerId)) this.announcePeers();
    for (const user of users) this.moves.push([user, workerId, 0]);
  }

  close(): void {
    clearInterval(this.sweepTimer);
  }

  private store(message: NewMessage, reached: number[]): void {
    const holders = this.presence.workersOf(message.to);
    let delivered = false;
    for (const worker of holders ?? []) {
      if (reached.includes(worker)) {
        delivered = true;
      } else {
        this.post(worker, ["deliver", message]);
        this.stats.forwarded++;
        delivered = true;
      }
    }
    this.inbox.append(message, delivered);
    this.lastStored = message;
    this.stats.messages++;
  }

  /**
   * The sender's copy of the message just stored (`id`, the last one stored): kept in the
   * sender's inbox as seen, and forwarded to the sender's other workers.
   */
  private copy(fromWorker: number, id: string, exceptSession: string): void {
    const message = this.lastStored;
    if (!message || message.id !== id || message.from === message.to) return;
    this.inbox.append(message, true, Date.now(), message.from);
    for (const worker of this.presence.workersOf(message.from) ?? []) {
      if (worker !== fromWorker) this.post(worker, ["copy", message, exceptSession]);
    }
  }

  private announcePeers(): void {
    const peers = [...this.peers];
    for (const worker of this.peers.keys()) this.post(worker, ["peers", peers]);
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
