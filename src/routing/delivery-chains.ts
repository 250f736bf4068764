/**
 * Keeps live delivery on one worker in inbox order, whatever order hand-offs arrive in.
 *
 * Every message stored for a user carries the id of the entry before it in that user's inbox
 * (`prev`). The worker remembers, per user with sessions here, the newest id it has handed them
 * (`tip`). A hand-off whose `prev` is the tip is next in line; one that is older than the tip was
 * already handed over (by a replay or a catch-up); one whose `prev` is newer than the tip means
 * something in between has not arrived yet, and since ids follow commit order, that something
 * is already in the store: it is read from there, in order, and the tip moves past it. So order
 * and completeness rest on the store, not on timing, and a lost hand-off is repaired by the next
 * one (or by `catchUp`).
 */
import type { NewMessage } from "../protocol.js";
import { compareIds, type Id, parseId } from "../store/inbox-records.js";
import type { Delivery } from "./backend.js";

export interface ChainEntry {
  message: NewMessage;
  exceptSession?: string | undefined;
}

/** Reads `user`'s inbox after `after` (exclusive), oldest first. */
export type InboxReader = (user: string, after: Id | null) => ChainEntry[];
/** The same read inside a write transaction: it sees every commit made before it, for sure. */
export type CommittedReader = (user: string, after: Id | null) => Promise<ChainEntry[]>;

interface Held {
  prev: Id | null;
  entry: ChainEntry;
}

export class DeliveryChains {
  private readonly tips = new Map<string, Id | null>();
  /** Users whose first session here is registering: hand-offs wait for their starting tip. */
  private readonly pending = new Map<string, Held[]>();
  /** Entries read from the store to fill gaps, since start (a metric). */
  filled = 0;

  constructor(
    private readonly read: InboxReader,
    private readonly deliver: (delivery: Delivery) => void,
    private readonly readCommitted?: CommittedReader,
  ) {}

  /** The first session of `user` here is registering; hold its hand-offs until `started`. */
  expect(user: string): void {
    if (!this.tips.has(user)) this.pending.set(user, []);
  }

  /** The registration committed when `user`'s inbox ended at `tip`. */
  started(user: string, tip: Id | null): void {
    const held = this.pending.get(user);
    if (!held) return;
    this.pending.delete(user);
    this.tips.set(user, tip);
    for (const { prev, entry } of held) this.receive(user, prev, entry);
  }

  /** `user` has no session here any more. */
  forget(user: string): void {
    this.tips.delete(user);
    this.pending.delete(user);
  }

  has(user: string): boolean {
    return this.tips.has(user) || this.pending.has(user);
  }

  /** A message stored in `user`'s inbox right after `prev`. */
  receive(user: string, prev: Id | null, entry: ChainEntry): void {
    const held = this.pending.get(user);
    if (held) {
      held.push({ prev, entry });
      return;
    }
    if (!this.tips.has(user)) return;
    const tip = this.tips.get(user) ?? null;
    const id = parseId(entry.message.id);
    if (!id || compareIds(id, tip) <= 0) return;
    if (compareIds(prev, tip) === 0) {
      this.tips.set(user, id);
      this.deliver({ user, ...entry });
      return;
    }
    // A gap: what came before this message is committed; take everything from the store.
    this.catchUpUser(user);
    // A read snapshot that missed this commit would leave it undelivered: read again in a
    // transaction, which comes after every commit so far.
    if (compareIds(this.tips.get(user) ?? null, id) < 0) this.repair(user);
  }

  private repair(user: string): void {
    this.readCommitted?.(user, this.tips.get(user) ?? null).then(
      (entries) => {
        for (const entry of entries) {
          if (!this.tips.has(user)) return;
          const id = parseId(entry.message.id);
          if (!id || compareIds(id, this.tips.get(user) ?? null) <= 0) continue;
          this.filled++;
          this.tips.set(user, id);
          this.deliver({ user, ...entry });
        }
      },
      () => {},
    );
  }

  /** Reads and delivers whatever every user here has not been handed yet (a peer was lost). */
  catchUp(): void {
    for (const user of this.tips.keys()) this.catchUpUser(user);
  }

  private catchUpUser(user: string): void {
    const tip = this.tips.get(user) ?? null;
    for (const entry of this.read(user, tip)) {
      this.filled++;
      this.tips.set(user, parseId(entry.message.id));
      this.deliver({ user, ...entry });
    }
  }
}
