/**
 * Presence subscriptions and typing hints in multi-host mode.
 *
 * A registry says which workers watch a user: `<p>:watchers:{<user>}`, a set of worker keys
 * under the user's hash tag (next to their presence hash). The presence scripts consult it only
 * when a user's first session anywhere appears or their last one leaves (they return the
 * watching workers), and the change is published on each live watching worker's delivery
 * channel (`notifyWatchers`; SPUBLISH on a cluster):
 * no broadcast, no cost on hosts that do not watch the user, nothing per online user. An entry
 * lives as long as its worker's heartbeat: one whose worker has expired is removed when found.
 *
 * Typing hints go the same way to the recipient's workers (read from their presence hash).
 * Events on a delivery channel are JSON objects, `{"presence":[user,online]}` and
 * `{"typing":[from,to]}`, while messages travel as JSON arrays: a host of an earlier version
 * finds no message in an event and ignores it.
 */
import { isValidUsername } from "../protocol.js";
import {
  type BackendLogger,
  defineScript,
  type RedisClient,
  type ScriptCall,
} from "../redis/connection.js";
import type { RedisKeys } from "../redis/keys.js";
import { WATCH_SCRIPT } from "../redis/scripts.js";
import { groupBySlot, isCluster } from "../redis/slots.js";

/** How long a registry entry lives without a renewal; each worker renews its own hourly. */
const WATCH_TTL_MS = 24 * 3600_000;
const REFRESH_MS = 3600_000;
/** Users registered per script call. */
const BATCH = 500;

export function watchersKey(prefix: string, user: string): string {
  return `${prefix}:watchers:{${user}}`;
}

/** Publishes on a worker's delivery channel: PUBLISH, or SPUBLISH (its shard only) on a cluster. */
export function publishTo(client: RedisClient, channel: string, payload: string): Promise<number> {
  return (
    isCluster(client) ? client.spublish(channel, payload) : client.publish(channel, payload)
  ).then(Number);
}

/**
 * Tells the watchers of users who came online or went offline (what the presence scripts
 * return: per user, the watching workers). Dead watchers are skipped and dropped from the
 * registry. Fire and forget: a lost event is a lost hint, the next change corrects it.
 */
export function notifyWatchers(
  client: RedisClient,
  keys: RedisKeys,
  dead: readonly string[],
  changes: { user: string; online: boolean; watchers: string[] }[],
  logger: BackendLogger,
): void {
  for (const { user, online, watchers } of changes) {
    const payload = JSON.stringify({ presence: [user, online] });
    for (const worker of watchers) {
      if (dead.includes(worker)) {
        client.srem(keys.watchers(user), worker).catch(() => {});
        continue;
      }
      publishTo(client, keys.deliver(worker), payload).catch((err: Error) => {
        logger.debug({ user, err: err.message }, "presence event not published");
      });
    }
  }
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
  keys: RedisKeys;
  /** This worker's key in presence data. */
  worker: string;
  /** Workers known dead now (no event goes to them). */
  deadWorkers(): readonly string[];
  logger: BackendLogger;
}

export class RedisWatch {
  /** Users some connection on this worker watches. */
  private readonly watched = new Set<string>();
  /** Watch calls in flight per user, and the last presence event that came meanwhile. */
  private readonly inFlight = new Map<string, number>();
  private readonly heardMeanwhile = new Map<string, boolean>();
  private readonly watchScript: ScriptCall;
  private readonly refreshTimer: NodeJS.Timeout;
  private presenceHandler: (user: string, online: boolean) => void = () => {};
  private typingHandler: (from: string, to: string) => void = () => {};

  constructor(
    private readonly client: RedisClient,
    private readonly options: RedisWatchOptions,
  ) {
    this.watchScript = defineScript(client, "chatWatch", "any", WATCH_SCRIPT);
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
    const { keys, worker, logger } = this.options;
    for (const user of users) {
      this.watched.delete(user);
      this.client.srem(keys.watchers(user), worker).catch((err: Error) => {
        // Left behind, the entry costs one PUBLISH at the user's next change, then goes.
        logger.debug({ user, err: err.message }, "unwatch failed");
      });
    }
  }

  /**
   * Relays a typing hint to the recipient's sessions on other workers: reads where they are
   * (their presence hash holds each worker's channel) and publishes on those channels.
   */
  typing(from: string, to: string): void {
    const { keys, worker, logger } = this.options;
    const payload = JSON.stringify({ typing: [from, to] });
    this.client
      .hgetall(keys.presence(to))
      .then((holders) => {
        const dead = this.options.deadWorkers();
        return Promise.all(
          Object.entries(holders)
            .filter(([holder]) => holder !== worker && !dead.includes(holder))
            .map(([, channel]) => publishTo(this.client, channel, payload)),
        );
      })
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
    const { keys, worker } = this.options;
    await Promise.all(users.map((user) => this.client.srem(keys.watchers(user), worker)));
  }

  /** SADD to each user's registry and reads whether they are online, per slot. */
  private async register(users: string[]): Promise<boolean[]> {
    const { keys, worker } = this.options;
    const online = new Map<string, boolean>();
    await Promise.all(
      groupBySlot(this.client, users, (user) => keys.watchers(user)).map(async (group) => {
        const reply = (await this.watchScript(
          group.flatMap((user) => [keys.watchers(user), keys.presence(user)]),
          [worker, WATCH_TTL_MS],
        )) as number[];
        group.forEach((user, i) => {
          online.set(user, reply[i] === 1);
        });
      }),
    );
    return users.map((user) => online.get(user) === true);
  }
}
