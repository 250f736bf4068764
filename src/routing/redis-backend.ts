/**
 * The multi-host `Backend`: presence, inboxes and routing in Redis (directly, through Sentinel,
 * or on a Redis Cluster). Two clients per worker: commands (auto-pipelined, so one event-loop
 * turn of sends costs one round trip per node, and failing at once while Redis is away) and a
 * subscriber on this worker's own delivery channel, which carries only messages for users with a
 * session here: SUBSCRIBE on one Redis, SSUBSCRIBE (sharded pub/sub, the channel's shard only)
 * on a cluster.
 */
import { parseMessageId } from "../inbox/message-id.js";
import { INBOX_LIMITS, type InboxLimits, RedisInbox } from "../inbox/redis-inbox.js";
import {
  PRESENCE_TIMINGS,
  type PresenceTimings,
  RedisPresence,
} from "../presence/redis-presence.js";
import { RedisWatch } from "../presence/redis-watch.js";
import type { NewMessage } from "../protocol.js";
import {
  type BackendLogger,
  createClient,
  describeTarget,
  type RedisClient,
  type RedisTarget,
  silentLogger,
} from "../redis/connection.js";
import { makeWorkerKey, RedisKeys } from "../redis/keys.js";
import { isCluster } from "../redis/slots.js";
import {
  type Backend,
  BackendUnavailableError,
  type Delivery,
  type SendResult,
} from "./backend.js";
import { parseDeliveries, RedisSender, SEND_WINDOW_MS } from "./redis-send.js";
import { ReplicaAcks } from "./replica-acks.js";

export interface RedisBackendOptions extends RedisTarget, Partial<PresenceTimings> {
  /** Prefix of every key and channel. */
  prefix: string;
  /** This host's name in presence data. */
  nodeId: string;
  /** This worker's id on its host. */
  workerId: number | string;
  /** Default: no logging. */
  logger?: BackendLogger | undefined;
  /** A command without a reply after this long fails the request. Default 3000 ms. */
  commandTimeoutMs?: number | undefined;
  /** `start()` gives up when Redis is not reachable within this. Default 5000 ms. */
  startTimeoutMs?: number | undefined;
  /** Longest wait between reconnection attempts. Default 1000 ms. */
  maxRetryDelayMs?: number | undefined;
  /**
   * Replicas that must confirm a message before it is acknowledged (WAIT, once per turn of
   * sends, on each master written to), so a fail-over cannot lose it. Default 1 through
   * Sentinel or on a cluster, else 0.
   */
  replicaAcks?: number | undefined;
  /** Longest wait for those confirmations. Default 250 ms. */
  replicaAckTimeoutMs?: number | undefined;
  /** Inbox length, lifetime and replay size. Default 1000 messages, 7 days, 1000. */
  inbox?: Partial<InboxLimits> | undefined;
  /** Sends go to Redis at most once per this many ms. Default 10 ms. */
  sendWindowMs?: number | undefined;
}

export const REDIS_BACKEND_DEFAULTS = Object.freeze({
  ...PRESENCE_TIMINGS,
  commandTimeoutMs: 3000,
  startTimeoutMs: 5000,
  maxRetryDelayMs: 1000,
  replicaAckTimeoutMs: 250,
  sendWindowMs: SEND_WINDOW_MS,
});

export function createRedisBackend(options: RedisBackendOptions): RedisBackend {
  return new RedisBackend(options);
}

export class RedisBackend implements Backend {
  private readonly keys: RedisKeys;
  /** This worker's name in presence data and in its channel. */
  readonly worker: string;
  private readonly channel: string;
  private readonly logger: BackendLogger;
  private readonly command: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly inbox: RedisInbox;
  private readonly presence: RedisPresence;
  private readonly sender: RedisSender;
  private readonly watches: RedisWatch;
  private typingHandler: (from: string, to: string) => void = () => {};
  private readonly replicaAcks: ReplicaAcks;
  private deliver: (delivery: Delivery) => void = () => {};
  private readonly readyHandlers: ((ready: boolean) => void)[] = [];
  private subscribed = false;
  private heartbeatOk = true;
  private started = false;
  private closing: Promise<void> | undefined;
  /** The clients are being disconnected on purpose: no reconnecting. */
  private stopping = false;
  private readonly retryDelayMs: number;
  private ready = false;
  /** Ready once since start: a later change to ready follows an outage. */
  private wasReady = false;
  private connectedWaiters: (() => void)[] = [];

  constructor(private readonly options: RedisBackendOptions) {
    const o = { ...REDIS_BACKEND_DEFAULTS, ...stripUndefined(options) };
    const limits = { ...INBOX_LIMITS, ...stripUndefined(options.inbox ?? {}) };
    this.logger = options.logger ?? silentLogger;
    this.keys = new RedisKeys(options.prefix);
    this.worker = makeWorkerKey(options.nodeId, options.workerId);
    this.channel = this.keys.deliver(this.worker);
    this.retryDelayMs = o.maxRetryDelayMs;
    const timings = { commandTimeoutMs: o.commandTimeoutMs, maxRetryDelayMs: o.maxRetryDelayMs };
    this.command = createClient(options, "command", timings, this.logger);
    this.subscriber = createClient(options, "subscriber", timings, this.logger);
    this.inbox = new RedisInbox(this.command, this.keys, limits);
    this.sender = new RedisSender(
      this.command,
      this.keys,
      this.worker,
      limits,
      o.sendWindowMs,
      () => this.presence.deadWorkers(),
      this.logger,
    );
    const replicas =
      o.replicaAcks ?? (options.sentinels?.length || options.cluster?.length ? 1 : 0);
    this.replicaAcks = new ReplicaAcks(this.command, replicas, o.replicaAckTimeoutMs, this.logger);
    this.presence = new RedisPresence(
      this.command,
      this.keys,
      this.worker,
      { heartbeatMs: o.heartbeatMs, ttlMs: o.ttlMs },
      limits,
      this.logger,
      {
        catchUp: (messages) => {
          for (const message of messages) this.dispatch({ user: message.to, message });
        },
        heartbeat: (ok) => {
          this.heartbeatOk = ok;
          this.update();
          this.pingSubscriber();
        },
      },
    );
    this.watches = new RedisWatch(this.command, {
      keys: this.keys,
      worker: this.worker,
      deadWorkers: () => this.presence.deadWorkers(),
      logger: this.logger,
    });
    this.watches.onTyping((from, to) => this.typingHandler(from, to));
    this.watchConnections();
  }

  async start(): Promise<void> {
    // A cluster client learns the slots, then opens a connection per master (and a sharded
    // subscriber per master): slower to be ready, more so on a busy machine.
    const deadline =
      this.options.startTimeoutMs ??
      REDIS_BACKEND_DEFAULTS.startTimeoutMs * (this.options.cluster?.length ? 3 : 1);
    let lastError: Error | undefined;
    const onError = (err: Error) => {
      lastError = err;
    };
    this.command.on("error", onError);
    this.subscriber.on("error", onError);
    this.command.connect().catch(() => {});
    this.subscriber.connect().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const connected = await Promise.race([
      new Promise<boolean>((resolve) => this.connectedWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), deadline);
      }),
    ]);
    clearTimeout(timer);
    this.command.off("error", onError);
    this.subscriber.off("error", onError);
    const address = describeTarget(this.options);
    if (!connected) {
      this.disconnect();
      throw new Error(
        `cannot reach Redis at ${address}: ${lastError?.message ?? `no answer within ${deadline} ms`}`,
      );
    }
    try {
      await this.presence.join();
    } catch (err) {
      this.disconnect();
      throw new Error(`cannot use Redis at ${address}: ${(err as Error).message}`);
    }
    this.started = true;
    this.logger.info({ redis: address, presenceKey: this.worker }, "redis backend started");
    this.update();
  }

  addPresence(user: string): void {
    this.presence.add(user);
  }

  removePresence(user: string): void {
    this.presence.remove(user);
  }

  async replay(user: string, since: string | undefined): Promise<NewMessage[]> {
    try {
      const registration = this.presence.takeRegistration(user);
      if (since !== undefined && parseMessageId(since)) {
        // Same connection, so the registration runs first: nothing falls between the two.
        const [messages] = await Promise.all([this.inbox.since(user, since), registration]);
        return messages;
      }
      return await (registration ?? this.inbox.drain(user));
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async send(from: string, to: string, text: string, session?: string): Promise<SendResult> {
    if (this.closing) throw new BackendUnavailableError("the Redis back-end is closed");
    let outcome: Awaited<ReturnType<RedisSender["send"]>>;
    try {
      outcome = await this.sender.send(from, to, text, session);
      await this.replicaAcks.wait();
    } catch (err) {
      throw this.unavailable(err);
    }
    if (outcome.here) this.dispatch({ user: to, message: outcome.message });
    if (session !== undefined) {
      this.dispatch({ user: from, message: outcome.message, exceptSession: session });
    }
    return { message: outcome.message, status: outcome.delivered ? "delivered" : "stored" };
  }

  /** Removes the presence of a worker of this host that died (see RedisPresence). */
  forgetWorker(worker: string): Promise<number> {
    return this.presence.forgetWorker(worker);
  }

  async listUsers(limit: number): Promise<string[]> {
    try {
      return await this.presence.list(limit);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  onDeliver(handler: (delivery: Delivery) => void): void {
    this.deliver = handler;
  }

  async watch(users: string[]): Promise<string[]> {
    try {
      return await this.watches.watch(users);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  unwatch(users: string[]): void {
    this.watches.unwatch(users);
  }

  onPresence(handler: (user: string, online: boolean) => void): void {
    this.watches.onPresence(handler);
  }

  typing(from: string, to: string): void {
    if (this.presence.holds(to)) this.typingHandler(from, to);
    this.watches.typing(from, to);
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
    this.sender.flush();
  }

  close(): Promise<void> {
    this.sender.flush();
    this.sender.stop();
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.update();
    if (this.started && this.command.status === "ready") {
      await this.watches.close().catch(() => {});
      await this.presence.leave().catch((err: Error) => {
        this.logger.warn({ err: err.message }, "could not remove this worker's presence");
      });
    } else {
      // Unreachable: the other hosts sweep this worker's users once its heartbeat expires.
      this.presence.stop();
    }
    this.stopping = true;
    await Promise.all([quit(this.command), quit(this.subscriber)]);
    this.logger.info({ presenceKey: this.worker }, "redis backend closed");
  }

  private disconnect(): void {
    this.stopping = true;
    this.command.disconnect();
    this.subscriber.disconnect();
  }

  private watchConnections(): void {
    for (const client of [this.command, this.subscriber]) {
      // ioredis gives up on a client in a few cases (an error while connecting through
      // Sentinel, for one): a worker must never stay cut off, so start it again.
      client.on("end", () => {
        if (this.stopping) return;
        this.logger.warn({}, "redis client gave up; connecting again");
        setTimeout(() => {
          if (!this.stopping && client.status === "end") client.connect().catch(() => {});
        }, this.retryDelayMs).unref();
      });
    }
    this.command.on("ready", () => {
      // Redis may have lost data while away: renew every inbox at its next write.
      this.sender.renewals.forget();
      this.heartbeatOk = true;
      this.update();
    });
    this.command.on("close", () => this.update());
    this.subscriber.on("close", () => {
      this.subscribed = false;
      this.update();
    });
    this.subscriber.on("ready", () => {
      const subscribing = isCluster(this.subscriber)
        ? this.subscriber.ssubscribe(this.channel)
        : this.subscriber.subscribe(this.channel);
      subscribing.then(
        () => {
          this.subscribed = this.subscriber.status === "ready";
          this.update();
        },
        (err: Error) => {
          this.logger.warn({ err: err.message }, "subscribing failed; reconnecting");
          this.subscriber.disconnect(true);
        },
      );
    });
    const onMessage = (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      if (this.watches.handle(payload)) return;
      const deliveries = parseDeliveries(payload);
      if (deliveries.length === 0) this.logger.warn({ channel }, "ignored a malformed delivery");
      for (const delivery of deliveries) this.dispatch(delivery);
    };
    this.subscriber.on(isCluster(this.subscriber) ? "smessage" : "message", onMessage);
  }

  /** Recomputes readiness; tells the handlers, and re-registers presence after an outage. */
  private update(): void {
    const connected = this.command.status === "ready" && this.subscribed;
    if (connected) {
      for (const waiter of this.connectedWaiters.splice(0)) waiter();
    }
    const ready = connected && this.heartbeatOk && this.started && !this.closing;
    if (ready === this.ready) return;
    this.ready = ready;
    if (this.started && !this.closing) {
      this.logger[ready ? "info" : "warn"](
        { ready },
        ready ? "redis reachable" : "redis unreachable",
      );
    }
    if (ready && this.wasReady) {
      void this.presence.resync();
      void this.watches.refresh();
    }
    if (ready) this.wasReady = true;
    for (const handler of this.readyHandlers) handler(ready);
  }

  /**
   * The subscriber only ever reads, so a connection that died silently (no FIN, no RST) would
   * go unnoticed while PUBLISH still counts it: ping it with each heartbeat, reconnect if mute.
   */
  private pingSubscriber(): void {
    // A cluster's sharded subscribers are watched (and moved with their slots) by ioredis.
    if (isCluster(this.subscriber)) return;
    if (this.subscriber.status !== "ready" || this.stopping) return;
    this.subscriber.ping().catch((err: Error) => {
      if (this.stopping || this.subscriber.status !== "ready") return;
      this.logger.warn({ err: err.message }, "subscriber connection mute; reconnecting");
      this.subscriber.disconnect(true);
    });
  }

  private dispatch(delivery: Delivery): void {
    try {
      this.deliver(delivery);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, "delivery handler failed");
    }
  }

  private unavailable(err: unknown): BackendUnavailableError {
    const message = err instanceof Error ? err.message : String(err);
    if (
      !/timed out|closed|writeable|ECONN|EPIPE|READONLY|LOADING|MaxRetries|reach|CLUSTERDOWN|TRYAGAIN|cluster|slots/i.test(
        message,
      )
    ) {
      this.logger.error({ err: message }, "unexpected redis error");
    }
    return new BackendUnavailableError(`Redis unavailable: ${message}`);
  }
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status === "ready") {
    await client.quit().catch(() => {});
  }
  client.disconnect();
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
