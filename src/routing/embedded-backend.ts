/**
 * The worker's side of embedded mode: the `Backend` interface over cluster IPC to the primary's
 * `EmbeddedHub`. Operations of one event-loop turn go out as one IPC message.
 *
 * A message gets its id here and is acknowledged as soon as its batch is written to the IPC
 * channel: from then on the primary receives it even if this worker dies, so the sender's worker
 * never waits for the primary. The `delivered`/`stored` status comes from this worker's copy of
 * the host's presence; the primary, which stores and forwards in one order, decides what a later
 * log in replays.
 */
import type { HubRequest, HubResponse } from "../cluster/ipc.js";
import { MessageIdGenerator } from "../inbox/message-id.js";
import { PresenceReplica } from "../presence/presence-replica.js";
import type { NewMessage } from "../protocol.js";
import { type Backend, BackendUnavailableError, type SendResult } from "./backend.js";
import { TurnBatcher } from "./turn-batcher.js";

const REQUEST_TIMEOUT_MS = 5_000;
/** Id sequence numbers are spread over this many slots, one per live worker. */
export const ID_SLOTS = 2048;

interface Pending {
  resolve: (messages: NewMessage[]) => void;
  reject: (error: Error) => void;
  at: number;
}

export interface HubLink {
  /** Sends one batch; `written` is called once it is in the channel (or with an error). */
  send(ops: HubRequest[], written: (error?: Error | null) => void): void;
  connected(): boolean;
}

export class EmbeddedBackend implements Backend {
  private readonly outbox: TurnBatcher<HubRequest>;
  /** Sends waiting for their batch to be written, in batch order. */
  private unwritten: ((error?: Error | null) => void)[] = [];
  private readonly replays = new Map<number, Pending>();
  private readonly presence = new PresenceReplica();
  private readonly ids: MessageIdGenerator;
  private nextRef = 1;
  private deliver: (message: NewMessage) => void = () => {};
  private readonly timeoutSweep: NodeJS.Timeout;

  constructor(
    private readonly link: HubLink,
    slot: number,
  ) {
    this.ids = new MessageIdGenerator(slot, ID_SLOTS);
    this.outbox = new TurnBatcher((ops) => this.write(ops));
    this.timeoutSweep = setInterval(() => this.failOverdue(), 1000).unref();
  }

  async start(): Promise<void> {}

  /** Feeds one batch from the primary. */
  receive(ops: HubResponse[]): void {
    for (const op of ops) {
      switch (op[0]) {
        case "deliver":
          this.deliver(op[1]);
          break;
        case "replayed": {
          const pending = this.replays.get(op[1]);
          this.replays.delete(op[1]);
          pending?.resolve(op[2]);
          break;
        }
        case "presence":
          this.presence.reset(op[1]);
          break;
        case "online":
          this.presence.online(op[1]);
          break;
        case "offline":
          this.presence.offline(op[1]);
          break;
      }
    }
  }

  addPresence(user: string): void {
    this.presence.online([user]);
    this.outbox.push(["join", user]);
  }

  removePresence(user: string): void {
    this.outbox.push(["leave", user]);
  }

  replay(user: string, since: string | undefined): Promise<NewMessage[]> {
    if (!this.link.connected()) return Promise.reject(unreachable());
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      this.replays.set(ref, { resolve, reject, at: Date.now() });
      this.outbox.push(["replay", ref, user, since ?? null]);
    });
  }

  send(from: string, to: string, text: string): Promise<SendResult> {
    if (!this.link.connected()) return Promise.reject(unreachable());
    const sentAt = Date.now();
    const message: NewMessage = { id: this.ids.next(sentAt), from, to, message: text, sentAt };
    const status = this.presence.has(to) ? "delivered" : "stored";
    this.outbox.push(["send", message.id, from, to, text, sentAt]);
    return new Promise((resolve, reject) => {
      this.unwritten.push((error) =>
        error ? reject(unreachable()) : resolve({ message, status }),
      );
    });
  }

  async listUsers(limit: number): Promise<string[]> {
    return this.presence.list(limit);
  }

  onDeliver(handler: (message: NewMessage) => void): void {
    this.deliver = handler;
  }

  onReadyChange(): void {
    // The primary is this process's parent: when it is gone, so is this worker.
  }

  isReady(): boolean {
    return this.link.connected();
  }

  async close(): Promise<void> {
    this.outbox.flush();
    clearInterval(this.timeoutSweep);
    for (const [ref, pending] of this.replays) {
      this.replays.delete(ref);
      pending.reject(new BackendUnavailableError("worker is shutting down"));
    }
  }

  private write(ops: HubRequest[]): void {
    const settle = this.unwritten;
    this.unwritten = [];
    if (!this.link.connected()) {
      for (const done of settle) done(unreachable());
      return;
    }
    this.link.send(ops, (error) => {
      for (const done of settle) done(error);
    });
  }

  /** Replays are kept in ref order, so the overdue ones are at the front. */
  private failOverdue(): void {
    const cutoff = Date.now() - REQUEST_TIMEOUT_MS;
    for (const [ref, pending] of this.replays) {
      if (pending.at > cutoff) break;
      this.replays.delete(ref);
      pending.reject(new BackendUnavailableError("no answer from the primary process"));
    }
  }
}

function unreachable(): BackendUnavailableError {
  return new BackendUnavailableError("primary process unreachable");
}
