/**
 * Presence subscriptions and typing hints in multi-host mode.
 *
 * A registry says which workers watch a user: `<p>:watchers:{<user>}`, a set of worker keys
 * under the user's hash tag (next to their presence hash). The presence scripts consult it only
 * when a user's first session anywhere appears or their last one leaves (`LUA_NOTIFY_WATCHERS`,
 * called from them), and PUBLISH the change to each live watching worker's delivery channel:
 * no broadcast, no cost on hosts that do not watch the user, nothing per online user. An entry
 * lives as long as its worker's heartbeat: one whose worker has expired is removed when found.
 *
 * Typing hints go the same way to the recipient's workers (read from their presence hash).
 * Events on a delivery channel are JSON objects, `{"presence":[user,online]}` and
 * `{"typing":[from,to]}`, while messages travel as JSON arrays: a host of an earlier version
 * finds no message in an event and ignores it.
 */
import type { Redis } from "ioredis";
import { isValidUsername } from "../protocol.js";
import { type BackendLogger, defineScript, type ScriptCall } from "../routing/redis-connection.js";

/** How long a registry entry lives without a renewal; each worker renews its own hourly. */
const WATCH_TTL_MS = 24 * 3600_000;
const REFRESH_MS = 3600_000;
/** Users registered per script call. */
const BATCH = 500;

/**
 * Lua (prepended to the presence scripts): tells every live worker watching `user` that they
 * came online or went offline, and drops entries of workers whose heartbeat expired. Lua mirror
 * of the key names in routing/redis-keys.ts and `watchersKey` below.
 */
export const LUA_NOTIFY_WATCHERS = `
local function notify_watchers(prefix, user, online)
  local watchersKey = prefix .. ':watchers:{' .. user .. '}'
  local watchers = redis.call('SMEMBERS', watchersKey)
  if #watchers == 0 then return end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local payload = cjson.encode({ presence = { user, online } })
  for _, w in ipairs(watchers) do
    local expiry = redis.call('ZSCORE', prefix .. ':workers', w)
    if expiry and tonumber(expiry) >= now then
      redis.call('PUBLISH', prefix .. ':deliver:' .. w, payload)
    else
      redis.call('SREM', watchersKey, w)
    end
  end
end
`;

/** KEYS: per user, watchers then presence. ARGV: worker, ttl. Returns 1/0 per user: online. */
const WATCH_SCRIPT = `
local worker, ttl = ARGV[1], ARGV[2]
local online = {}
for i = 1, #KEYS, 2 do
  redis.call('SADD', KEYS[i], worker)
  redis.call('PEXPIRE', KEYS[i], ttl)
  online[#online + 1] = redis.call('EXISTS', KEYS[i + 1])
end
return online
`;

/** KEYS: the recipient's presence, workers. ARGV: channel prefix, this worker, payload. */
const TYPING_SCRIPT = `
local presenceKey, workers = KEYS[1], KEYS[2]
local channelPrefix, self, payload = ARGV[1], ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, w in ipairs(redis.call('HKEYS', presenceKey)) do
  if w ~= self then
    local expiry = redis.call('ZSCORE', workers, w)
    if expiry and tonumber(expiry) >= now then
      redis.call('PUBLISH', channelPrefix .. w, payload)
    end
  end
end
return 0
`;

export function watchersKey(prefix: string, user: string): string {
  return `${prefix}:watchers:{${user}}`;
}

/** An event read from a delivery channel. */
export type ChannelEvent =
  | { kind: "presence"; user: string; online: boolean }
  | { kind: "typing"; from: string; to: string };

/** Reads a presence or typing event; undefined for anything else (messages, malformed data). */
export function parseChannelEvent(payload: string): ChannelEvent | undefined {
  if (!payload.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const record = value as { presence?: unknown; typing?: unknown };
  const presence = record.presence;
  if (Array.isArray(presence) && isValidUsername(presence[0]) && typeof presence[1] === "boolean") {
    return { kind: "presence", user: presence[0], online: presence[1] };
  }
  const typing = record.typing;
  if (Array.isArray(typing) && isValidUsername(typing[0]) && isValidUsername(typing[1])) {
    return { kind: "typing", from: typing[0], to: typing[1] };
  }
  return undefined;
}

export interface RedisWatchOptions {
  prefix: string;
  /** This worker's key in presence data. */
  worker: string;
  /** Prefix of the delivery channels (the worker key follows it). */
  channelPrefix: string;
  /** The recipient's presence hash key. */
  presenceKey(user: string): string;
  /** The sorted set of worker heartbeats. */
  workersKey: string;
  logger: BackendLogger;
}

export class RedisWatch {
  /** Users some connection on this worker watches. */
  private readonly watched = new Set<string>();
  /** Watch calls in flight per user, and the last presence event that came meanwhile. */
  private readonly inFlight = new Map<string, number>();
  private readonly heardMeanwhile = new Map<string, boolean>();
  private readonly watchScript: ScriptCall;
  private readonly typingScript: ScriptCall;
  private readonly refreshTimer: NodeJS.Timeout;
  private presenceHandler: (user: string, online: boolean) => void = () => {};
  private typingHandler: (from: string, to: string) => void = () => {};

  constructor(
    private readonly client: Redis,
    private readonly options: RedisWatchOptions,
  ) {
    this.watchScript = defineScript(client, "chatWatch", "any", WATCH_SCRIPT);
    this.typingScript = defineScript(client, "chatTyping", 2, TYPING_SCRIPT);
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS).unref();
  }

  /** Registers this worker as a watcher of `users`; resolves with those online now. */
  async watch(users: string[]): Promise<string[]> {
    for (const user of users) {
      this.watched.add(user);
      this.inFlight.set(user, (this.inFlight.get(user) ?? 0) + 1);
    }
    try {
      const online = await this.register(users);
      // A change published while the script's answer was on its way (another connection)
      // is newer than the answer.
      return users.filter((user, i) => this.heardMeanwhile.get(user) ?? online[i]);
    } finally {
      for (const user of users) {
        const left = (this.inFlight.get(user) ?? 1) - 1;
        if (left > 0) this.inFlight.set(user, left);
        else {
          this.inFlight.delete(user);
          this.heardMeanwhile.delete(user);
        }
      }
    }
  }

  unwatch(users: string[]): void {
    const { prefix, worker, logger } = this.options;
    for (const user of users) {
      this.watched.delete(user);
      this.client.srem(watchersKey(prefix, user), worker).catch((err: Error) => {
        // Left behind, the entry costs one PUBLISH at the user's next change, then goes.
        logger.debug({ user, err: err.message }, "unwatch failed");
      });
    }
  }

  /** Relays a typing hint to the recipient's sessions on other workers. */
  typing(from: string, to: string): void {
    const { channelPrefix, worker, workersKey, logger } = this.options;
    const payload = JSON.stringify({ typing: [from, to] });
    this.typingScript([this.options.presenceKey(to), workersKey], [channelPrefix, worker, payload])
      // A hint: lost when Redis is away, like the keystrokes it stands for.
      .catch((err: Error) => logger.debug({ err: err.message }, "typing relay failed"));
  }

  onPresence(handler: (user: string, online: boolean) => void): void {
    this.presenceHandler = handler;
  }

  onTyping(handler: (from: string, to: string) => void): void {
    this.typingHandler = handler;
  }

  /** Takes a delivery-channel payload if it is an event; false when it is something else. */
  handle(payload: string): boolean {
    const event = parseChannelEvent(payload);
    if (!event) return false;
    if (event.kind === "typing") {
      this.typingHandler(event.from, event.to);
      return true;
    }
    if (this.inFlight.has(event.user)) this.heardMeanwhile.set(event.user, event.online);
    this.presenceHandler(event.user, event.online);
    return true;
  }

  /** Registers every watched user again (Redis came back, possibly empty; hourly renewal). */
  async refresh(): Promise<void> {
    const users = [...this.watched];
    try {
      for (let i = 0; i < users.length; i += BATCH) await this.register(users.slice(i, i + BATCH));
    } catch (err) {
      this.options.logger.debug({ err: (err as Error).message }, "watch refresh failed");
    }
  }

  /** Removes this worker from the registry (clean shutdown). */
  async close(): Promise<void> {
    clearInterval(this.refreshTimer);
    const users = [...this.watched];
    this.watched.clear();
    const { prefix, worker } = this.options;
    await Promise.all(users.map((user) => this.client.srem(watchersKey(prefix, user), worker)));
  }

  private async register(users: string[]): Promise<boolean[]> {
    const { prefix, worker } = this.options;
    const keys: string[] = [];
    for (const user of users) keys.push(watchersKey(prefix, user), this.options.presenceKey(user));
    const reply = (await this.watchScript(keys, [worker, WATCH_TTL_MS])) as number[];
    return users.map((_, i) => reply[i] === 1);
  }
}
