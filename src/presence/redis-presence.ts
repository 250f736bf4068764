/**
 * Presence in Redis: which workers hold a session of which user (see routing/redis-keys.ts for
 * the keys). Each worker registers the users it holds, heartbeats its own entry in
 * `<p>:workers` (score: expiry in Redis server time, so host clocks do not matter), and sweeps
 * the entries of workers whose heartbeat expired: a host killed with -9 leaves its users online
 * for at most `ttlMs + heartbeatMs`. The send script also skips (and removes) expired holders at
 * once. Locally the worker keeps the set of users it holds, and registers them all again after
 * Redis came back (a restarted Redis may have lost them, a sweep may have removed them).
 */
import type { Redis } from "ioredis";
import { decodeEntries, type InboxLimits, LUA_DRAIN_AFTER_CURSOR } from "../inbox/redis-inbox.js";
import type { NewMessage } from "../protocol.js";
import { type BackendLogger, defineScript, type ScriptCall } from "../routing/redis-connection.js";
import type { RedisKeys } from "../routing/redis-keys.js";
import { LUA_NOTIFY_WATCHERS } from "./redis-watch.js";

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

/** Lua: removes `worker` from `user`'s presence, and `user` from the online set if none is left
 * (telling the user's watchers). */
const LUA_FORGET = `
${LUA_NOTIFY_WATCHERS}
local function forget(prefix, online, worker, user)
  local presenceKey = prefix .. ':presence:{' .. user .. '}'
  local removed = redis.call('HDEL', presenceKey, worker)
  if redis.call('EXISTS', presenceKey) == 0 then
    redis.call('ZREM', online, user)
    if removed == 1 then notify_watchers(prefix, user, false) end
  end
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** Marks users online here and hands back, per user, the messages stored while they were away. */
const REGISTER_SCRIPT = `
${LUA_NOTIFY_WATCHERS}
local online, workerUsers = KEYS[1], KEYS[2]
local prefix, worker, limit, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local result = {}
for i = 5, #ARGV do
  local user = ARGV[i]
  local presenceKey = prefix .. ':presence:{' .. user .. '}'
  if redis.call('HSET', presenceKey, worker, '1') == 1 and redis.call('HLEN', presenceKey) == 1 then
    notify_watchers(prefix, user, true)
  end
  redis.call('ZADD', online, 0, user)
  redis.call('SADD', workerUsers, user)
  local inboxKey = prefix .. ':inbox:{' .. user .. '}'
  local cursorKey = prefix .. ':cursor:{' .. user .. '}'
  ${LUA_DRAIN_AFTER_CURSOR}
  result[#result + 1] = entries
end
return result
`;

const UNREGISTER_SCRIPT = `
${LUA_FORGET}
local online, workerUsers = KEYS[1], KEYS[2]
local prefix, worker = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  forget(prefix, online, worker, ARGV[i])
  redis.call('SREM', workerUsers, ARGV[i])
end
return 0
`;

/**
 * Renews this worker's entry, then sweeps workers whose entry expired (a few at a time, a batch
 * of users each). Returns { 1 if this worker's entry was missing (new, or swept), users swept }.
 */
const HEARTBEAT_SCRIPT = `
${LUA_FORGET}
local online, workers = KEYS[1], KEYS[2]
local prefix, worker, ttl, maxDead, batch = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local now = now_ms()
local added = redis.call('ZADD', workers, now + ttl, worker)
local dead = redis.call('ZRANGEBYSCORE', workers, '-inf', '(' .. now, 'LIMIT', 0, maxDead)
local swept = 0
for _, d in ipairs(dead) do
  local setKey = prefix .. ':worker:' .. d .. ':users'
  for _, user in ipairs(redis.call('SPOP', setKey, batch)) do
    forget(prefix, online, d, user)
    swept = swept + 1
  end
  if redis.call('EXISTS', setKey) == 0 then redis.call('ZREM', workers, d) end
end
return {added, swept}
`;

/** Renews this worker's entry and clears its presence (before registering it again); ARGV[4]
 * 'leave' also removes the entry, for a clean shutdown. */
const REJOIN_SCRIPT = `
${LUA_FORGET}
local online, workers, workerUsers = KEYS[1], KEYS[2], KEYS[3]
local prefix, worker, ttl, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local users = redis.call('SMEMBERS', workerUsers)
for _, user in ipairs(users) do forget(prefix, online, worker, user) end
redis.call('DEL', workerUsers)
if mode == 'leave' then
  redis.call('ZREM', workers, worker)
else
  redis.call('ZADD', workers, now_ms() + ttl, worker)
end
return #users
`;

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
  private readonly unregister: ScriptCall;
  private readonly heartbeatScript: ScriptCall;
  private readonly rejoin: ScriptCall;
  private timer: NodeJS.Timeout | undefined;
  /** A registration or removal failed: Redis may not match the local set. */
  private needsResync = false;
  private resyncing: Promise<void> | undefined;
  /** Another resync was asked for while one ran: run again once it is done. */
  private resyncAgain = false;

  constructor(
    private readonly client: Redis,
    private readonly keys: RedisKeys,
    private readonly worker: string,
    private readonly timings: PresenceTimings,
    private readonly limits: InboxLimits,
    private readonly logger: BackendLogger,
    private readonly events: PresenceEvents,
  ) {
    this.register = defineScript(client, "chatPresenceRegister", 2, REGISTER_SCRIPT);
    this.unregister = defineScript(client, "chatPresenceUnregister", 2, UNREGISTER_SCRIPT);
    this.heartbeatScript = defineScript(client, "chatPresenceHeartbeat", 2, HEARTBEAT_SCRIPT);
    this.rejoin = defineScript(client, "chatPresenceRejoin", 3, REJOIN_SCRIPT);
  }

  /** Enters this worker in the registry and starts the heartbeat. */
  async join(): Promise<void> {
    await this.rejoinCall("join");
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
    await this.rejoinCall("leave");
  }

  /**
   * Removes the presence of another worker known to be dead (its primary saw it exit), at once
   * rather than when its heartbeat expires. Returns how many users it held.
   */
  async forgetWorker(worker: string): Promise<number> {
    const k = this.keys;
    return Number(
      await this.rejoin(
        [k.online, k.workers, k.workerUsers(worker)],
        [k.prefix, worker, this.timings.ttlMs, "leave"],
      ),
    );
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
    this.unregister(
      [this.keys.online, this.keys.workerUsers(this.worker)],
      [this.keys.prefix, this.worker, user],
    ).catch((err: Error) => {
      this.needsResync = true;
      this.logger.debug({ user, err: err.message }, "presence removal failed; will resync");
    });
  }

  holds(user: string): boolean {
    return this.local.has(user);
  }

  async list(limit: number): Promise<string[]> {
    const count = Math.floor(limit);
    if (!(count > 0)) return [];
    return this.client.zrange(this.keys.online, "0", String(count - 1));
  }

  /**
   * Registers every local user again from scratch; messages stored for them while this worker
   * was not registered go to `catchUp`. Runs after Redis came back; one at a time.
   */
  resync(): Promise<void> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.needsResync = false;
    const users = [...this.local];
    // Issued together, in order, on one connection: later add/remove calls queue behind them.
    const calls: Promise<unknown>[] = [this.rejoinCall("join")];
    for (let i = 0; i < users.length; i += BATCH) {
      const batch = users.slice(i, i + BATCH);
      calls.push(
        this.registerUsers(batch).then((perUser) => {
          for (const messages of perUser) if (messages.length > 0) this.events.catchUp(messages);
        }),
      );
    }
    const run = Promise.all(calls).then(
      () => {
        this.logger.info({ users: users.length }, "presence registered again");
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

  private async beat(): Promise<void> {
    try {
      const reply = (await this.heartbeatScript(
        [this.keys.online, this.keys.workers],
        [this.keys.prefix, this.worker, this.timings.ttlMs, 10, 1000],
      )) as [number, number];
      this.events.heartbeat(true);
      if (reply[1] > 0) this.logger.info({ users: reply[1] }, "swept users of dead workers");
      if (reply[0] === 1 || this.needsResync) {
        if (reply[0] === 1)
          this.logger.warn({}, "this worker's presence was lost; registering again");
        await this.resync();
      }
    } catch (err) {
      this.needsResync = true;
      this.events.heartbeat(false);
      this.logger.debug({ err: (err as Error).message }, "heartbeat failed");
    }
  }

  private async registerUsers(users: string[]): Promise<NewMessage[][]> {
    const reply = await this.register(
      [this.keys.online, this.keys.workerUsers(this.worker)],
      [this.keys.prefix, this.worker, this.limits.replayLimit, this.limits.ttlMs, ...users],
    );
    const perUser = Array.isArray(reply) ? reply : [];
    return users.map((user, i) => decodeEntries(user, perUser[i]));
  }

  private rejoinCall(mode: "join" | "leave"): Promise<unknown> {
    return this.rejoin(
      [this.keys.online, this.keys.workers, this.keys.workerUsers(this.worker)],
      [this.keys.prefix, this.worker, this.timings.ttlMs, mode],
    );
  }
}
