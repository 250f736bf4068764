/**
 * The worker's side of embedded mode: the `Backend` interface over cluster IPC to the primary's
 * `EmbeddedHub`. Requests of one event-loop turn go out as one IPC message; requests that get no
 * answer in time fail as `UNAVAILABLE` rather than hang.
 */
import type { HubRequest, HubResponse } from "../cluster/ipc.js";
import type { NewMessage } from "../protocol.js";
import { type Backend, BackendUnavailableError, type SendResult } from "./backend.js";
import { TurnBatcher } from "./turn-batcher.js";

const REQUEST_TIMEOUT_MS = 5_000;

interface Pending {
  resolve: (value: never) => void;
  reject: (error: Error) => void;
  at: number;
}

export interface HubLink {
  send(ops: HubRequest[]): void;
  connected(): boolean;
}

export class EmbeddedBackend implements Backend {
  private readonly outbox: TurnBatcher<HubRequest>;
  private readonly pending = new Map<number, Pending>();
  private nextRef = 1;
  private deliver: (message: NewMessage) => void = () => {};
  private readonly timeoutSweep: NodeJS.Timeout;

  constructor(private readonly link: HubLink) {
    this.outbox = new TurnBatcher((ops) => link.send(ops));
    this.timeoutSweep = setInterval(() => this.failOverdue(), 1000).unref();
  }

  async start(): Promise<void> {}

  /** Feeds one batch of answers from the primary. */
  receive(ops: HubResponse[]): void {
    for (const op of ops) {
      switch (op[0]) {
        case "deliver":
          this.deliver(op[1]);
          break;
        case "sent":
          this.settle(op[1], { id: op[2], status: op[3] ? "delivered" : "stored", sentAt: op[4] });
          break;
        case "replayed":
        case "listed":
          this.settle(op[1], op[2]);
          break;
      }
    }
  }

  addPresence(user: string): void {
    this.outbox.push(["join", user]);
  }

  removePresence(user: string): void {
    this.outbox.push(["leave", user]);
  }

  replay(user: string, since: string | undefined): Promise<NewMessage[]> {
    return this.request((ref) => ["replay", ref, user, since ?? null]);
  }

  async send(from: string, to: string, text: string): Promise<SendResult> {
    const answer = await this.request<{ id: string; status: SendResult["status"]; sentAt: number }>(
      (ref) => ["send", ref, from, to, text],
    );
    return {
      message: { id: answer.id, from, to, message: text, sentAt: answer.sentAt },
      status: answer.status,
    };
  }

  listUsers(limit: number): Promise<string[]> {
    return this.request((ref) => ["list", ref, limit]);
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
    for (const [ref, pending] of this.pending) {
      this.pending.delete(ref);
      pending.reject(new BackendUnavailableError("worker is shutting down"));
    }
  }

  private request<T>(build: (ref: number) => HubRequest): Promise<T> {
    if (!this.link.connected()) {
      return Promise.reject(new BackendUnavailableError("primary process unreachable"));
    }
    const ref = this.nextRef++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(ref, { resolve: resolve as (value: never) => void, reject, at: Date.now() });
      this.outbox.push(build(ref));
    });
  }

  private settle(ref: number, value: unknown): void {
    const pending = this.pending.get(ref);
    if (!pending) return;
    this.pending.delete(ref);
    pending.resolve(value as never);
  }

  /** Pending requests are kept in ref order, so the overdue ones are at the front. */
  private failOverdue(): void {
    const cutoff = Date.now() - REQUEST_TIMEOUT_MS;
    for (const [ref, pending] of this.pending) {
      if (pending.at > cutoff) break;
      this.pending.delete(ref);
      pending.reject(new BackendUnavailableError("no answer from the primary process"));
    }
  }
}
