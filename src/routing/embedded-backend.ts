/**
 * The `Backend` of embedded mode: every worker reads and writes the host's embedded database
 * itself, and hands live traffic straight to the other workers over the peer mesh. The primary
 * is not on the message path.
 *
 * One message path, as in multi-host mode: store, then route. The sends of one event-loop turn
 * are stored in one write transaction (with this worker's other writes of the commit window),
 * which also hands out their ids (in commit order across the host) and reads where the
 * recipient and the sender are online; once it has committed, each
 * message goes to the workers holding the recipient's sessions and the sender's other sessions,
 * and the client gets its acknowledgement. A receiving worker keeps each user's messages in
 * inbox order with `DeliveryChains`, reading from the store whatever it has not been handed.
 */
import type { Logger } from "pino";
import type { NewMessage } from "../protocol.js";
import type { ChatStore, StoredMessage } from "../store/chat-store.js";
import {
  compareIds,
  type Id,
  INBOX_LIMITS,
  type InboxLimits,
  InboxWriter,
  idText,
  parseId,
  readAfter,
  readRecord,
  writeRecord,
} from "../store/inbox-records.js";
import { addPair, listUsers, removePair, workersOf } from "../store/presence-records.js";
import {
  type Backend,
  BackendUnavailableError,
  type Delivery,
  type SendResult,
} from "./backend.js";
import { type ChainEntry, DeliveryChains } from "./delivery-chains.js";
import type { PeerFrame, PeerMesh } from "./peer-mesh.js";
import { TurnBatcher } from "./turn-batcher.js";

/** While the store fails, a write is tried this often to notice that it works again. */
const PROBE_INTERVAL_MS = 1000;

interface PendingSend {
  from: string;
  to: string;
  text: string;
  session: string | undefined;
  resolve: (result: SendResult) => void;
  reject: (error: Error) => void;
}

interface Stored {
  id: Id;
  sentAt: number;
  toWorkers: number[];
  fromWorkers: number[];
  prevTo: Id | null;
  prevFrom: Id | null;
}

export interface EmbeddedBackendOptions {
  store: ChatStore;
  mesh: PeerMesh;
  workerId: number;
  logger: Logger;
  limits?: InboxLimits;
  /** Acknowledge only once the commit is flushed to the disk (survives power loss). */
  syncAcks?: boolean;
  /** Kept messages may take this many bytes; past it, sends are refused (`UNAVAILABLE`). */
  maxBytes?: number;
}

/** The store holds as much as it may: a send is refused, nothing else changes. */
class StoreFullError extends BackendUnavailableError {}

export class EmbeddedBackend implements Backend {
  private readonly store: ChatStore;
  private readonly mesh: PeerMesh;
  private readonly self: number;
  private readonly limits: InboxLimits;
  readonly chains: DeliveryChains;
  private readonly sends = new TurnBatcher<PendingSend>((batch) => this.storeBatch(batch));
  /** Log-ins registering now: replays wait for them. */
  private readonly registrations = new Map<string, Promise<void>>();
  private readonly watched = new Set<string>();
  /** What a first session's registration took from the inbox, for its replay. */
  private readonly unseen = new Map<string, NewMessage[]>();
  private deliver: (delivery: Delivery) => void = () => {};
  private presenceHandler: (user: string, online: boolean) => void = () => {};
  private typingHandler: (from: string, to: string) => void = () => {};
  private readonly readyHandlers: ((ready: boolean) => void)[] = [];
  private ready = false;
  private closed = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private fullLoggedAt = 0;
  /** Sends refused because the store was at its size cap (a metric). */
  refusedFull = 0;

  constructor(private readonly options: EmbeddedBackendOptions) {
    this.store = options.store;
    this.mesh = options.mesh;
    this.self = options.workerId;
    this.limits = options.limits ?? INBOX_LIMITS;
    this.chains = new DeliveryChains(
      (user, after) => {
        this.store.refresh();
        return this.chainEntries(user, after);
      },
      (delivery) => this.deliver(delivery),
      (user, after) => this.store.transaction(() => this.chainEntries(user, after)),
    );
  }

  /** `user`'s kept messages after `after`, as a receiving worker's chain takes them. */
  private chainEntries(user: string, after: Id | null): ChainEntry[] {
    return readAfter(this.store, user, after, this.limits.maxPerUser).map((entry) => ({
      message: entry.message,
      exceptSession: entry.session,
    }));
  }

  async start(): Promise<void> {
    await this.mesh.listen();
    this.setReady(true);
  }

  /** Frames from a peer worker (or from this one). */
  receive(frames: PeerFrame[]): void {
    for (const frame of frames) {
      switch (frame[0]) {
        case "m":
          this.chains.receive(frame[1], frame[2], {
            message: frame[3],
            exceptSession: frame[4] ?? undefined,
          });
          break;
        case "p":
          // Unwatched here by now (a stale registry entry): the chat layer counts and drops it.
          this.presenceHandler(frame[1], frame[2] === 1);
          break;
        case "t":
          this.typingHandler(frame[1], frame[2]);
          break;
      }
    }
  }

  peerOverflows(): number {
    return this.mesh.overflows;
  }

  /** A peer (re)opened its channel to this worker: hand-offs may have been lost before. */
  catchUp(): void {
    this.chains.catchUp();
  }

  addPresence(user: string): void {
    this.chains.expect(user);
    // One transaction registers the session and takes what no session has seen: a send
    // committed before it is in that read, one committed after it is handed over live. (Moving
    // the cursor later, at the replay, would skip what a send meanwhile marked as seen.)
    const registration = this.store
      .transaction(() => {
        const wasOnline = workersOf(this.store.presence, user).length > 0;
        addPair(this.store.presence, user, this.self);
        return {
          tip: readRecord(this.store, user)?.tip ?? null,
          unseen: this.takeUnseen(user),
          watchers: wasOnline ? [] : workersOf(this.store.watches, user),
        };
      })
      .then(
        ({ tip, unseen, watchers }) => {
          this.chains.started(user, tip);
          this.unseen.set(user, unseen);
          for (const worker of watchers) this.handOff(worker, ["p", user, 1]);
        },
        (error: unknown) => {
          this.chains.forget(user);
          throw this.failed(error);
        },
      );
    this.registrations.set(user, registration);
    const forget = () => {
      if (this.registrations.get(user) === registration) this.registrations.delete(user);
    };
    registration.then(forget, forget);
  }

  /** In a write transaction: `user`'s messages no session has seen; they count as seen now. */
  private takeUnseen(user: string): NewMessage[] {
    const record = readRecord(this.store, user);
    if (!record) return [];
    const entries = readAfter(this.store, user, record.cursor, this.limits.maxPerUser);
    if (compareIds(record.cursor, record.tip) !== 0) {
      record.cursor = record.tip;
      writeRecord(this.store, user, record);
    }
    return entries.map((entry) => entry.message);
  }

  removePresence(user: string): void {
    this.chains.forget(user);
    this.unseen.delete(user);
    this.store
      .transaction(() => {
        removePair(this.store.presence, user, this.self);
        if (workersOf(this.store.presence, user).length > 0) return [];
        return workersOf(this.store.watches, user);
      })
      .then(
        (watchers) => {
          for (const worker of watchers) this.handOff(worker, ["p", user, 0]);
        },
        (error: unknown) => this.failed(error),
      );
  }

  async replay(user: string, since: string | undefined): Promise<NewMessage[]> {
    if (!this.ready) throw unavailable();
    await this.registrations.get(user);
    // The first session here: what its registration took.
    const unseen = this.unseen.get(user);
    this.unseen.delete(user);
    if (since === undefined && unseen) return unseen;
    try {
      if (since !== undefined) {
        // In a transaction: it comes after every commit so far, whatever process made it.
        return await this.store.transaction(() =>
          readAfter(this.store, user, parseId(since), this.limits.maxPerUser).map(
            (entry) => entry.message,
          ),
        );
      }
      // Another session of a user already online here.
      return await this.store.transaction(() => this.takeUnseen(user));
    } catch (error) {
      throw this.failed(error);
    }
  }

  send(from: string, to: string, text: string, session?: string): Promise<SendResult> {
    if (!this.ready || this.closed) return Promise.reject(unavailable());
    return new Promise((resolve, reject) => {
      this.sends.push({ from, to, text, session, resolve, reject });
    });
  }

  async listUsers(limit: number): Promise<string[]> {
    this.store.refresh();
    return listUsers(this.store.presence, limit);
  }

  async watch(users: string[]): Promise<string[]> {
    const fresh = users.filter((user) => !this.watched.has(user));
    for (const user of fresh) this.watched.add(user);
    try {
      return await this.store.transaction(() => {
        for (const user of fresh) addPair(this.store.watches, user, this.self);
        return users.filter((user) => workersOf(this.store.presence, user).length > 0);
      });
    } catch (error) {
      for (const user of fresh) this.watched.delete(user);
      throw this.failed(error);
    }
  }

  unwatch(users: string[]): void {
    const gone = users.filter((user) => this.watched.delete(user));
    if (gone.length === 0) return;
    this.store
      .transaction(() => {
        for (const user of gone) removePair(this.store.watches, user, this.self);
      })
      .catch((error: unknown) => this.failed(error));
  }

  typing(from: string, to: string): void {
    for (const worker of workersOf(this.store.presence, to)) this.handOff(worker, ["t", from, to]);
  }

  onDeliver(handler: (delivery: Delivery) => void): void {
    this.deliver = handler;
  }

  onPresence(handler: (user: string, online: boolean) => void): void {
    this.presenceHandler = handler;
  }

  onTyping(handler: (from: string, to: string) => void): void {
    this.typingHandler = handler;
  }

  onReadyChange(handler: (ready: boolean) => void): void {
    this.readyHandlers.push(handler);
  }

  isReady(): boolean {
    return this.ready;
  }

  flush(): void {
    this.sends.flush();
  }

  async close(): Promise<void> {
    this.sends.flush();
    this.closed = true;
    clearInterval(this.probeTimer);
    // What this worker committed is durable already; its presence is removed by the primary
    // when it exits. Wait for the writes in flight so their acknowledgements go out.
    await this.store.committed();
    this.mesh.close();
    // Closed, the store has no writer thread left for process.exit to wait on.
    await this.store.close();
  }

  /** Stores a turn's sends in one transaction, then routes and acknowledges them. */
  private storeBatch(batch: PendingSend[]): void {
    if (!this.ready) {
      for (const pending of batch) pending.reject(unavailable());
      return;
    }
    const committed = this.store.transaction(() => {
      const writer = new InboxWriter(this.store, this.limits);
      const now = Date.now();
      if (writer.bytes >= (this.options.maxBytes ?? Number.POSITIVE_INFINITY)) {
        throw new StoreFullError("the database holds --max-data-mb of messages");
      }
      const stored = batch.map((pending) => this.storeOne(writer, pending, now));
      writer.finish();
      return stored;
    });
    const durable = this.options.syncAcks
      ? committed.then(async (stored) => {
          await this.store.flushed();
          return stored;
        })
      : committed;
    durable.then(
      (stored) => {
        for (const [i, pending] of batch.entries()) this.route(pending, stored[i] as Stored);
      },
      (error: unknown) => {
        const reason = error instanceof StoreFullError ? this.full(error) : this.failed(error);
        for (const pending of batch) pending.reject(reason);
      },
    );
  }

  private storeOne(writer: InboxWriter, pending: PendingSend, now: number): Stored {
    const { from, to, text, session } = pending;
    const id = writer.nextId(now);
    const toWorkers = workersOf(this.store.presence, to);
    const value: StoredMessage = [from, to, text, now];
    const prevTo = writer.append(to, id, value, toWorkers.length > 0);
    if (from === to) {
      return { id, sentAt: now, toWorkers, fromWorkers: [], prevTo, prevFrom: null };
    }
    const fromWorkers = workersOf(this.store.presence, from);
    const copy: StoredMessage = session === undefined ? value : [from, to, text, now, session];
    // The sender has seen what it sent: a log in without `since` does not replay it.
    const prevFrom = writer.append(from, id, copy, true);
    return { id, sentAt: now, toWorkers, fromWorkers, prevTo, prevFrom };
  }

  private route(pending: PendingSend, stored: Stored): void {
    const { from, to, text, session } = pending;
    const message: NewMessage = {
      id: idText(stored.id),
      from,
      to,
      message: text,
      sentAt: stored.sentAt,
    };
    for (const worker of stored.toWorkers) {
      this.handOff(worker, ["m", to, stored.prevTo, message, null]);
    }
    for (const worker of stored.fromWorkers) {
      this.handOff(worker, ["m", from, stored.prevFrom, message, session ?? null]);
    }
    pending.resolve({ message, status: stored.toWorkers.length > 0 ? "delivered" : "stored" });
  }

  private handOff(worker: number, frame: PeerFrame): void {
    if (worker === this.self) this.receive([frame]);
    else this.mesh.send(worker, frame);
  }

  /** A write failed: unready until a probe write succeeds again. */
  private failed(error: unknown): BackendUnavailableError {
    const reason = error instanceof Error ? error.message : String(error);
    if (this.ready) {
      this.options.logger.error({ err: reason }, "storage write failed; not ready");
      this.setReady(false);
      this.probeTimer = setInterval(() => this.probe(), PROBE_INTERVAL_MS);
      this.probeTimer.unref();
    }
    return new BackendUnavailableError(`storage unavailable: ${reason}`);
  }

  /** Over the size cap: refused, logged now and then; the store still works for the rest. */
  private full(error: StoreFullError): StoreFullError {
    this.refusedFull++;
    const now = Date.now();
    if (now - this.fullLoggedAt > 60_000) {
      this.fullLoggedAt = now;
      this.options.logger.warn({ refused: this.refusedFull }, "store full: sends refused");
    }
    return error;
  }

  private probe(): void {
    this.store
      .transaction(() => this.store.meta.put("probe", Date.now()))
      .then(
        () => {
          if (this.ready || this.closed) return;
          clearInterval(this.probeTimer);
          this.options.logger.info("storage writable again; ready");
          this.setReady(true);
        },
        () => {},
      );
  }

  private setReady(ready: boolean): void {
    if (ready === this.ready) return;
    this.ready = ready;
    for (const handler of this.readyHandlers) handler(ready);
  }
}

function unavailable(): BackendUnavailableError {
  return new BackendUnavailableError("storage unavailable");
}
