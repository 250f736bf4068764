/**
 * Presence in Redis: which workers hold a session of which user (see redis/keys.ts for the
 * keys). Each worker registers the users it holds (in their presence hashes, and in its own set
 * of users), heartbeats its own entry in `<p>:workers` (score: expiry in Redis server time, so
 * host clocks do not matter), and sweeps the users of workers whose heartbeat expired: a host
 * killed with -9 leaves its users online for at most `ttlMs + heartbeatMs`. The dead workers
 * the last heartbeat saw are skipped (and removed) by the send scripts at once. Locally the
 * worker keeps the set of users it holds, and registers them all again after Redis came back
 * (a restarted Redis may have lost them, a sweep may have removed them).
 *
 * Nothing here touches two slots in one script: a user's presence and inbox share a slot, the
 * worker's user set has its own, and the registry of workers is one key. Online users are the
 * presence hashes that exist, listed by SCAN on each master.
 */
import { keepMs } from "../inbox/inbox-renewals.js";
import { decodeEntries, type InboxLimits } from "../inbox/redis-inbox.js";
import type { NewMessage } from "../protocol.js";
import {
  type BackendLogger,
  defineScript,
  type RedisClient,
  type ScriptCall,
} from "../redis/connection.js";
import type { RedisKeys } from "../redis/keys.js";
import { FORGET_SCRIPT, HEARTBEAT_SCRIPT, REGISTER_SCRIPT } from "../redis/scripts.js";
import { groupBySlot, isCluster } from "../redis/slots.js";
import { notifyWatchers } from "./redis-watch.js";

export interface PresenceTimings {
  /** How often a worker renews its entry and sweeps dead workers. */
  heartbeatMs: number;
  /** How long an entry lives without a renewal: a worker silent this long is dead. */
  ttlMs: number;
}

export const PRESENCE_TIMINGS: Readonly<PresenceTimings> = Object.freeze({
  heartbeatMs: 5000,
  ttlMs: 15_000,
});

/** Users registered per script call when registering many at once. */
const BATCH = 200;
/** Users of a dead worker swept per heartbeat. */
const SWEEP_BATCH = 1000;
/** Dead workers listed per heartbeat. */
const MAX_DEAD = 10;
/** Keys SCAN visits per call when listing users. */
const SCAN_COUNT = 1000;

export interface PresenceEvents {
  /** Messages stored for local users while this worker was not registered: deliver them. */
  catchUp(messages: NewMessage[]): void;
  /** Whether the last heartbeat reached Redis. */
  heartbeat(ok: boolean): void;
}

export class RedisPresence {
  private readonly local = new Set<string>();
  private readonly registrations = new Map<string, Promise<NewMessage[]>>();
  private readonly register: ScriptCall;
  private readonly forgetScript: ScriptCall;
  private readonly heartbeatScript: ScriptCall;
  private timer: NodeJS.Timeout | undefined;
  /** Workers whose entry had expired at the last heartbeat (until swept). */
  private dead: string[] = [];
  /** A registration or removal failed: Redis may not match the local set. */
  private needsResync = false;
  private resyncing: Promise<void> | undefined;
  /** Another resync was asked for while one ran: run again once it is done. */
  private resyncAgain = false;
  /** A listing under way: concurrent callers share it. */
  private listing: Promise<string[]> | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
    private readonly worker: string,
    private readonly timings: PresenceTimings,
    private readonly limits: InboxLimits,
    private readonly logger: BackendLogger,
    private readonly events: PresenceEvents,
  ) {
    this.register = defineScript(client, "chatPresenceRegister", "any", REGISTER_SCRIPT);
    this.forgetScript = defineScript(client, "chatPresenceForget", "any", FORGET_SCRIPT);
    this.heartbeatScript = defineScript(client, "chatPresenceHeartbeat", 1, HEARTBEAT_SCRIPT);
  }

  /** Enters this worker in the registry and starts the heartbeat. */
  async join(): Promise<void> {
    await this.heartbeatCall("join");
    this.timer ??= setInterval(() => void this.beat(), this.timings.heartbeatMs);
    this.timer.unref();
  }

  /** Stops the heartbeat and forgets the local users. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.local.clear();
    this.registrations.clear();
  }

  /** Stops, and removes this worker and its users from presence in Redis. */
  async leave(): Promise<void> {
    this.stop();
    await this.forgetWorker(this.worker);
  }

  /** Workers known dead (their entry expired) and not swept yet: senders skip them. */
  deadWorkers(): readonly string[] {
    return this.dead;
  }

  /**
   * Removes the presence of a worker known to be dead (its primary saw it exit, or it expired),
   * rather than waiting for a sweep. Returns how many users it held.
   */
  async forgetWorker(worker: string): Promise<number> {
    let total = 0;
    for (;;) {
      const swept = await this.sweep(worker);
      total += swept;
      if (swept < SWEEP_BATCH) break;
    }
    await this.heartbeatScript([this.keys.workers], [worker, this.timings.ttlMs, 0, "leave"]);
    return total;
  }

  /** Marks `user` online here; the registration also takes the messages stored meanwhile. */
  add(user: string): void {
    this.local.add(user);
    const registration = this.registerUsers([user]).then((perUser) => perUser[0] ?? []);
    registration.catch(() => {
      this.needsResync = true;
    });
    this.registrations.set(user, registration);
  }

  /** The pending registration of `user` (once): its messages are those to replay. */
  takeRegistration(user: string): Promise<NewMessage[]> | undefined {
    const registration = this.registrations.get(user);
    this.registrations.delete(user);
    return registration;
  }

  remove(user: string): void {
    this.local.delete(user);
    this.registrations.delete(user);
    Promise.all([
      this.forget(this.worker, [user]),
      this.client.srem(this.keys.workerUsers(this.worker), user),
    ]).catch((err: Error) => {
      this.needsResync = true;
      this.logger.debug({ user, err: err.message }, "presence removal failed; will resync");
    });
  }

  holds(user: string): boolean {
    return this.local.has(user);
  }

  /**
   * Online users, sorted, at most `limit`: the presence hashes found by SCAN on every master
   * (each stops once it found `limit`). Concurrent calls share one listing.
   */
  list(limit: number): Promise<string[]> {
    const count = Math.floor(limit);
    if (!(count > 0)) return Promise.resolve([]);
    this.listing ??= this.scanUsers(count).finally(() => {
      this.listing = undefined;
    });
    return this.listing.then((users) => users.slice(0, count));
  }

  /**
   * Registers every local user again; messages stored for them while this worker was not
   * registered go to `catchUp`. Users this worker registered but no longer holds are removed.
   * Runs after Redis came back; one at a time.
   */
  resync(): Promise<void> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.needsResync = false;
    const run = this.registerAgain().then(
      (count) => {
        this.logger.info({ users: count }, "presence registered again");
        this.resyncing = undefined;
        if (this.resyncAgain) {
          this.resyncAgain = false;
          return this.resync();
        }
      },
      (err: Error) => {
        // The next heartbeat retries; no retry loop while Redis is away.
        this.needsResync = true;
        this.resyncAgain = false;
        this.resyncing = undefined;
        this.logger.warn({ err: err.message }, "presence resync failed; will retry");
      },
    );
    this.resyncing = run;
    return run;
  }

  private async registerAgain(): Promise<number> {
    await this.heartbeatCall("join");
    const registered = await this.client.smembers(this.keys.workerUsers(this.worker));
    const gone = registered.filter((user) => !this.local.has(user));
    if (gone.length > 0) {
      await Promise.all([
        this.forget(this.worker, gone),
        this.client.srem(this.keys.workerUsers(this.worker), ...gone),
      ]);
    }
    const users = [...this.local];
    const calls: Promise<void>[] = [];
    for (let i = 0; i < users.length; i += BATCH) {
      calls.push(
        this.registerUsers(users.slice(i, i + BATCH)).then((perUser) => {
          for (const messages of perUser) if (messages.length > 0) this.events.catchUp(messages);
        }),
      );
    }
    await Promise.all(calls);
    return users.length;
  }

  private async beat(): Promise<void> {
    try {
      const reply = (await this.heartbeatCall("join")) as [number, ...string[]];
      this.events.heartbeat(true);
      const [added, ...dead] = reply;
      this.dead = dead.filter((worker) => worker !== this.worker);
      let swept = 0;
      for (const worker of this.dead) {
        const count = await this.sweep(worker);
        swept += count;
        if (count < SWEEP_BATCH) {
          await this.heartbeatScript([this.keys.workers], [worker, this.timings.ttlMs, 0, "leave"]);
        }
      }
      if (swept > 0) this.logger.info({ users: swept }, "swept users of dead workers");
      if (added === 1 || this.needsResync) {
        if (added === 1) this.logger.warn({}, "this worker's presence was lost; registering again");
        await this.resync();
      }
    } catch (err) {
      this.needsResync = true;
      this.events.heartbeat(false);
      this.logger.debug({ err: (err as Error).message }, "heartbeat failed");
    }
  }

  /** Removes up to a batch of `worker`'s users from presence; returns how many. */
  private async sweep(worker: string): Promise<number> {
    const users = await this.client.spop(this.keys.workerUsers(worker), SWEEP_BATCH);
    await this.forget(worker, users);
    return users.length;
  }

  /** Removes `worker` from users' presence (per slot); tells the watchers of those now offline. */
  private async forget(worker: string, users: string[]): Promise<void> {
    const k = this.keys;
    const changes: { user: string; online: boolean; watchers: string[] }[] = [];
    await Promise.all(
      groupBySlot(this.client, users, (user) => k.presence(user)).map(async (group) => {
        const reply = (await this.forgetScript(
          group.flatMap((user) => [
            k.presence(user),
            k.watchers(user),
            k.inbox(user),
            k.cursor(user),
            k.missed(user),
          ]),
          [worker, keepMs(this.limits)],
        )) as string[][];
        group.forEach((user, i) => {
          const watchers = reply[i] ?? [];
          if (watchers.length > 0) changes.push({ user, online: false, watchers });
        });
      }),
    );
    notifyWatchers(this.client, k, this.dead, changes, this.logger);
  }

  private async registerUsers(users: string[]): Promise<NewMessage[][]> {
    const k = this.keys;
    const groups = groupBySlot(this.client, users, (user) => k.presence(user));
    const args = [
      this.worker,
      k.deliver(this.worker),
      this.limits.replayLimit,
      keepMs(this.limits),
    ];
    const [, ...replies] = await Promise.all([
      this.client.sadd(k.workerUsers(this.worker), ...users),
      ...groups.map((group) =>
        this.register(
          group.flatMap((user) => [
            k.presence(user),
            k.inbox(user),
            k.cursor(user),
            k.watchers(user),
            k.missed(user),
          ]),
          args,
        ),
      ),
    ]);
    const byUser = new Map<string, NewMessage[]>();
    const changes: { user: string; online: boolean; watchers: string[] }[] = [];
    groups.forEach((group, g) => {
      const perUser = Array.isArray(replies[g]) ? (replies[g] as [unknown, string[]][]) : [];
      group.forEach((user, i) => {
        const [entries, watchers] = perUser[i] ?? [[], []];
        byUser.set(user, decodeEntries(user, entries));
        if (Array.isArray(watchers) && watchers.length > 0) {
          changes.push({ user, online: true, watchers });
        }
      });
    });
    notifyWatchers(this.client, k, this.dead, changes, this.logger);
    return users.map((user) => byUser.get(user) ?? []);
  }

  private heartbeatCall(mode: "join" | "leave"): Promise<unknown> {
    return this.heartbeatScript(
      [this.keys.workers],
      [this.worker, this.timings.ttlMs, MAX_DEAD, mode],
    );
  }

  private async scanUsers(limit: number): Promise<string[]> {
    const nodes = isCluster(this.client) ? this.client.nodes("master") : [this.client];
    const found = new Set<string>();
    await Promise.all(
      nodes.map(async (node) => {
        let cursor = "0";
        let here = 0;
        do {
          const [next, keys] = await node.scan(
            cursor,
            "MATCH",
            this.keys.presencePattern,
            "COUNT",
            SCAN_COUNT,
            "TYPE",
            "hash",
          );
          cursor = next;
          for (const key of keys) {
            const user = this.keys.userOfPresence(key);
            if (user !== undefined && !found.has(user)) {
              found.add(user);
              here++;
            }
          }
        } while (cursor !== "0" && here < limit);
      }),
    );
    return [...found].sort();
  }
}
