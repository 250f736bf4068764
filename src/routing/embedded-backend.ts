/**
 * The worker's side of embedded mode: the `Backend` interface over the primary's `EmbeddedHub`
 * (cluster IPC) and the other workers (the peer mesh).
 *
 * Sending a message takes no round trip: this worker gives it its id, delivers it to the
 * recipient's sessions here and sends it straight to the other workers holding them (from its
 * copy of the host's presence), then hands it to the primary's inbox. The client is acknowledged
 * once that hand-off is written to the IPC channel: from then on the primary receives it even if
 * this worker dies. Store hand-offs are batched over a few milliseconds; anything else (log in,
 * log out) flushes the batch at once, so the primary sees every operation in order.
 *
 * A message this worker cannot deliver itself (the recipient looks offline, or a peer channel is
 * not open) goes through the primary, which forwards it. For a short while after that, later
 * messages to the same recipient take the same path, so they cannot overtake it.
 */
import type { HubRequest, HubResponse } from "../cluster/ipc.js";
import { MessageIdGenerator } from "../inbox/message-id.js";
import { PresenceReplica } from "../presence/presence-replica.js";
import type { NewMessage } from "../protocol.js";
import {
  type Backend,
  BackendUnavailableError,
  type Delivery,
  type SendResult,
} from "./backend.js";
import type { PeerMesh } from "./peer-mesh.js";

const REQUEST_TIMEOUT_MS = 5_000;
/** How long store hand-offs wait for company; the sender's acknowledgement waits as long. */
const STORE_BATCH_MS = 10;
const MAX_BATCH = 512;
/** How long a recipient's messages keep going through the primary after one had to. */
const DETOUR_MS = 250;
/** Id sequence numbers are spread over this many slots, one per live worker. */
export const ID_SLOTS = 2048;

interface PendingReplay {
  resolve: (messages: NewMessage[]) => void;
  reject: (error: Error) => void;
  at: number;
}

type Written = (error?: Error | null) => void;

export interface HubLink {
  /** Sends one batch; `written` is called once it is in the channel (or with an error). */
  send(ops: HubRequest[], written: Written): void;
  connected(): boolean;
}

export class EmbeddedBackend implements Backend {
  private ops: HubRequest[] = [];
  /** Sends waiting for their batch to be written, in batch order. */
  private unwritten: Written[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushImmediate: NodeJS.Immediate | undefined;
  private readonly replays = new Map<number, PendingReplay>();
  /** Every worker follows the host's presence, so a watch is a local filter on its changes. */
  private readonly presence = new PresenceReplica((user, online) => {
    if (this.watched.has(user)) this.presenceHandler(user, online);
  });
  private readonly watched = new Set<string>();
  private presenceHandler: (user: string, online: boolean) => void = () => {};
  private typingHandler: (from: string, to: string) => void = () => {};
  private readonly ids: MessageIdGenerator;
  /** Recipients whose messages go through the primary until the given time. */
  private readonly detours = new Map<string, number>();
  private nextRef = 1;
  private deliverHandler: (delivery: Delivery) => void = () => {};
  private readonly timeoutSweep: NodeJS.Timeout;

  constructor(
    private readonly link: HubLink,
    private readonly mesh: PeerMesh,
    private readonly workerId: number,
    slot: number,
  ) {
    this.ids = new MessageIdGenerator(slot, ID_SLOTS);
    this.timeoutSweep = setInterval(() => {
      this.failOverdue();
      const now = Date.now();
      for (const [user, until] of this.detours) if (until <= now) this.detours.delete(user);
    }, 1000).unref();
  }

  async start(): Promise<void> {
    await this.mesh.listen();
  }

  /** Feeds one batch from the primary. */
  receive(ops: HubResponse[]): void {
    for (const op of ops) {
      switch (op[0]) {
        case "deliver":
          this.deliver(op[1]);
          break;
        case "copy":
          this.deliverHandler({ user: op[1].from, message: op[1], exceptSession: op[2] });
          break;
        case "typing":
          this.typingHandler(op[1], op[2]);
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
        case "moves":
          this.presence.apply(op[1]);
          break;
        case "peers":
          this.mesh.setPeers(op[1]);
          break;
      }
    }
  }

  /** Messages that other workers sent straight here. */
  receiveFromPeer(messages: NewMessage[]): void {
    for (const message of messages) this.deliver(message);
  }

  addPresence(user: string): void {
    this.presence.joined(user, this.workerId);
    this.queue(["join", user], true);
  }

  removePresence(user: string): void {
    this.presence.left(user, this.workerId);
    this.queue(["leave", user], true);
  }

  replay(user: string, since: string | undefined): Promise<NewMessage[]> {
    if (!this.link.connected()) return Promise.reject(unreachable());
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      this.replays.set(ref, { resolve, reject, at: Date.now() });
      this.queue(["replay", ref, user, since ?? null], true);
    });
  }

  send(from: string, to: string, text: string, session?: string): Promise<SendResult> {
    if (!this.link.connected()) return Promise.reject(unreachable());
    const sentAt = Date.now();
    const message: NewMessage = { id: this.ids.next(sentAt), from, to, message: text, sentAt };
    const holders = this.presence.holdersOf(to);
    const reached = this.deliverDirectly(message, holders, sentAt);
    const status = holders && holders.length > 0 ? "delivered" : "stored";
    const detour = reached.length < (holders?.length ?? 0) || !holders;
    if (detour) this.detours.set(to, sentAt + DETOUR_MS);
    this.queue(["store", message.id, from, to, text, sentAt, reached], detour);
    if (from !== to) {
      // The sender's other sessions: those here at once, the others through the primary.
      if (this.presence.holdersOf(from)?.includes(this.workerId)) {
        this.deliverHandler({ user: from, message, exceptSession: session });
      }
      this.queue(["copy", message.id, session ?? ""], false);
    }
    return new Promise((resolve, reject) => {
      this.unwritten.push((error) =>
        error ? reject(unreachable()) : resolve({ message, status }),
      );
    });
  }

  /** Delivers here and over the mesh where possible; returns the workers reached. */
  private deliverDirectly(
    message: NewMessage,
    holders: readonly number[] | undefined,
    now: number,
  ): number[] {
    const reached: number[] = [];
    if (!holders || (this.detours.get(message.to) ?? 0) > now) return reached;
    this.detours.delete(message.to);
    for (const worker of holders) {
      if (worker === this.workerId) {
        this.deliver(message);
        reached.push(worker);
      } else if (this.mesh.reaches(worker)) {
        this.mesh.send(worker, message);
        reached.push(worker);
      }
    }
    return reached;
  }

  async listUsers(limit: number): Promise<string[]> {
    return this.presence.list(limit);
  }

  onDeliver(handler: (delivery: Delivery) => void): void {
    this.deliverHandler = handler;
  }

  async watch(users: string[]): Promise<string[]> {
    for (const user of users) this.watched.add(user);
    return users.filter((user) => this.presence.holdersOf(user) !== undefined);
  }

  unwatch(users: string[]): void {
    for (const user of users) this.watched.delete(user);
  }

  onPresence(handler: (user: string, online: boolean) => void): void {
    this.presenceHandler = handler;
  }

  typing(from: string, to: string): void {
    const holders = this.presence.holdersOf(to);
    if (!holders) return;
    if (holders.includes(this.workerId)) this.typingHandler(from, to);
    if (holders.some((worker) => worker !== this.workerId)) this.queue(["typing", from, to], true);
  }

  onTyping(handler: (from: string, to: string) => void): void {
    this.typingHandler = handler;
  }

  /** A message for its recipient's sessions here. */
  private deliver(message: NewMessage): void {
    this.deliverHandler({ user: message.to, message });
  }

  onReadyChange(): void {
    // The primary is this process's parent: when it is gone, so is this worker.
  }

  isReady(): boolean {
    return this.link.connected();
  }

  async close(): Promise<void> {
    this.flush();
    this.mesh.close();
    clearInterval(this.timeoutSweep);
    for (const [ref, pending] of this.replays) {
      this.replays.delete(ref);
      pending.reject(new BackendUnavailableError("worker is shutting down"));
    }
  }

  /** Queues an operation for the primary; `urgent` ones go at the end of this turn. */
  private queue(op: HubRequest, urgent: boolean): void {
    this.ops.push(op);
    if (urgent || this.ops.length >= MAX_BATCH) {
      this.flushImmediate ??= setImmediate(this.flush);
    } else {
      this.flushTimer ??= setTimeout(this.flush, STORE_BATCH_MS);
    }
  }

  readonly flush = (): void => {
    clearTimeout(this.flushTimer);
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flushTimer = undefined;
    this.flushImmediate = undefined;
    if (this.ops.length === 0) return;
    const ops = this.ops;
    const settle = this.unwritten;
    this.ops = [];
    this.unwritten = [];
    if (!this.link.connected()) {
      for (const done of settle) done(unreachable());
      return;
    }
    this.link.send(ops, (error) => {
      for (const done of settle) done(error);
    });
  };

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
