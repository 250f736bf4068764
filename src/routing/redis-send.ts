/**
 * Sending in multi-host mode. A worker gathers the sends of a short window (`windowMs`) and
 * hands them to Redis together, so a busy worker pays a few calls per batch instead of per
 * message. Each message is stored in the recipient's inbox (its entry id is the message id) and,
 * as the sender's copy, in the sender's inbox under the same id; it goes to every live worker
 * holding a session of the recipient, and to every other worker holding one of the sender (their
 * other devices). Cursors are not written per message: a recipient's cursor is settled when
 * their last session leaves or another logs in (redis/scripts.ts, LUA_SETTLE). What no live
 * worker took while a worker held the recipient sets their missed mark, so the cursor stops
 * before it and the next log in (or this worker re-registering) replays it; what was stored
 * while nobody held them comes after the cursor anyway.
 *
 * On one Redis (direct or Sentinel) the whole batch is one script (redis/scripts.ts,
 * SEND_BATCH_SCRIPT): storing, reading presence, PUBLISH and the missed marks in one atomic step.
 * On a Redis Cluster a script cannot cross slots, so a batch goes in steps, each split per
 * slot: store for the recipients (and read where they are), store the senders' copies (and read
 * where the senders are), one SPUBLISH per destination worker's channel (its own slot), and, only
 * for messages that reached no live worker, the missed marks. Batches overlap there (the next
 * one starts while this one waits for replies) and a batch waits for the slowest node it
 * touches, so each batch publishes only once the one before it has published (answers included:
 * a delivery that reached nobody must be queued for retry before a later one can overtake it),
 * and settles its sends only after the one before it settled; and one slot's stores run in batch
 * order even when the client retries one (in-turn.ts): a device gets messages in the order they
 * were sent, whichever nodes each batch went through.
 *
 * The published entries are JSON: `NewMessage` with the delivery's `user` and `except` (the
 * sending session) for a sender's copy; the caller prepares each without its id (`…,"id":"`)
 * and the id is appended.
 */
import { InboxRenewals, keepMs } from "../inbox/inbox-renewals.js";
import type { InboxLimits } from "../inbox/redis-inbox.js";
import type { NewMessage } from "../protocol.js";
import { defineScript, type RedisClient, type ScriptCall } from "../redis/connection.js";
import type { RedisKeys } from "../redis/keys.js";
import { COPY_SCRIPT, MISSED_SCRIPT, SEND_BATCH_SCRIPT, STORE_SCRIPT } from "../redis/scripts.js";
import { groupBySlot, isCluster, keySlot } from "../redis/slots.js";
import type { Delivery } from "./backend.js";
import { InTurn } from "./in-turn.js";
import { type PendingDelivery, PublishRetries } from "./publish-retries.js";
import { TurnBatcher } from "./turn-batcher.js";

/**
 * Sends go to Redis at most once per this many ms per worker: a send after a quiet spell goes at
 * the end of its event-loop turn, while under load each call carries what gathered meanwhile
 * (see bench/README.md for what this saves and costs in latency).
 */
export const SEND_WINDOW_MS = 10;
/** A batch goes at once when it holds this many messages or this many bytes of text. */
const MAX_BATCH_MESSAGES = 256;
const MAX_BATCH_BYTES = 512 * 1024;

export interface SendOutcome {
  message: NewMessage;
  /** A live worker took the message (this one or another). */
  delivered: boolean;
  /** This worker holds a session of the recipient: deliver it here. */
  here: boolean;
}

interface PendingSend {
  from: string;
  to: string;
  text: string;
  sentAt: number;
  /**
   * The sending session: its copy goes to the sender's other sessions, not to it. Without one
   * (a caller of the interface before sent-message copies) no copy is kept.
   */
  session: string | undefined;
  resolve(outcome: SendOutcome): void;
  reject(error: unknown): void;
}

/** A send stored in the recipient's inbox (cluster, step 1). */
interface Stored {
  send: PendingSend;
  id: string;
  here: boolean;
  channels: string[];
  /** Some worker, live or dead, held the recipient. */
  held: boolean;
}

export class RedisSender {
  private readonly batch: TurnBatcher<PendingSend>;
  private batchBytes = 0;
  private readonly sendScript: ScriptCall;
  private readonly storeScript: ScriptCall;
  private readonly copyScript: ScriptCall;
  private readonly missedScript: ScriptCall;
  /** Cluster: deliveries whose channel could not be reached yet. */
  readonly retries: PublishRetries;
  /** Cluster: one slot's stores (and senders' copies) run in batch order, even when retried. */
  private readonly storesInTurn = new InTurn<number>();
  private readonly copiesInTurn = new InTurn<number>();
  /** Cluster: the last batch issued its SPUBLISHes / settled its sends. */
  private lastPublished: Promise<void> = Promise.resolve();
  private lastSettled: Promise<void> = Promise.resolve();
  /** Which inboxes this worker renewed lately (their expiry is not set on every write). */
  readonly renewals: InboxRenewals;
  private readonly keepMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
    private readonly worker: string,
    private readonly limits: InboxLimits,
    windowMs: number,
    /** Workers known dead right now (their presence entries are skipped and removed). */
    private readonly deadWorkers: () => readonly string[],
    private readonly logger: { warn(obj: object, msg?: string): void },
  ) {
    this.renewals = new InboxRenewals(limits);
    this.keepMs = keepMs(limits);
    this.sendScript = defineScript(client, "chatSendBatch", "any", SEND_BATCH_SCRIPT);
    this.storeScript = defineScript(client, "chatSendStore", "any", STORE_SCRIPT);
    this.copyScript = defineScript(client, "chatSendCopy", "any", COPY_SCRIPT);
    this.missedScript = defineScript(client, "chatSendMissed", "any", MISSED_SCRIPT);
    this.batch = new TurnBatcher((sends) => this.sendBatch(sends), windowMs);
    // A delivery that lands late was also marked missed: the next log in replays it once more
    // at most (clients drop it by id).
    this.retries = new PublishRetries((channel, payload) => this.publish(channel, payload), logger);
  }

  /** Stops retrying deliveries (closing): what waits stays in the inboxes. */
  stop(): void {
    this.retries.stop();
  }

  private async publish(channel: string, payload: string): Promise<number> {
    return Number(await this.client.spublish(channel, payload));
  }

  /** Sets the missed marks of recipients no live worker took a message of (the oldest such id
   * per recipient), per slot. */
  private async markMissed(missed: [string, string][]): Promise<void> {
    const oldest = new Map<string, string>();
    for (const [to, id] of missed) if (!oldest.has(to)) oldest.set(to, id);
    const k = this.keys;
    await Promise.all(
      groupBySlot(this.client, [...oldest], ([to]) => k.presence(to)).map((group) =>
        this.missedScript(
          group.flatMap(([to]) => [k.presence(to), k.inbox(to), k.cursor(to), k.missed(to)]),
          [this.keepMs, ...group.map(([, id]) => id)],
        ),
      ),
    );
  }

  send(from: string, to: string, text: string, session?: string): Promise<SendOutcome> {
    return new Promise((resolve, reject) => {
      this.batch.push({ from, to, text, sentAt: Date.now(), session, resolve, reject });
      this.batchBytes += text.length;
      if (this.batch.size >= MAX_BATCH_MESSAGES || this.batchBytes >= MAX_BATCH_BYTES) {
        this.flush();
      }
    });
  }

  /** Sends what has gathered now (a drain or a shutdown is waiting for it). */
  flush(): void {
    this.batch.flush();
  }

  private sendBatch(batch: PendingSend[]): void {
    this.batchBytes = 0;
    if (isCluster(this.client)) {
      this.sendClusterBatch(batch).catch((error: unknown) => {
        for (const send of batch) send.reject(error);
      });
      return;
    }
    const k = this.keys;
    const keys: string[] = [];
    const renewedSenders: string[] = [];
    const args: (string | number)[] = [...this.header()];
    for (const send of batch) {
      const { from, to, text, sentAt } = send;
      keys.push(k.inbox(to), k.cursor(to), k.presence(to), k.missed(to));
      keys.push(k.inbox(from), k.presence(from));
      const copy = copyHead(send);
      const renewSender = copy !== "" && this.renewals.due(from);
      if (renewSender) renewedSenders.push(k.cursor(from));
      const renew = (this.renewals.due(to) ? 1 : 0) + (renewSender ? 2 : 0);
      args.push(from, to, text, sentAt, recipientHead(send), copy, renew);
    }
    // The senders' cursors renewed with their inboxes: rarely any, so not a key per message.
    keys.push(...renewedSenders);
    this.sendScript(keys, args).then(
      (reply) => {
        // Two entries per message: its id, then 1 if delivered + 2 if held by this worker.
        const outcomes = reply as (string | number)[];
        batch.forEach((send, i) => {
          const flags = Number(outcomes[i * 2 + 1]);
          send.resolve({
            message: toMessage(send, String(outcomes[i * 2])),
            delivered: (flags & 1) === 1,
            here: (flags & 2) === 2,
          });
        });
      },
      (error: unknown) => {
        this.renewals.forget();
        for (const send of batch) send.reject(error);
      },
    );
  }

  /** ARGV every send script starts with: this worker, max length, ttl, the dead workers. */
  private header(): (string | number)[] {
    const dead = this.deadWorkers();
    return [this.worker, this.limits.maxLength, this.keepMs, dead.length, ...dead];
  }

  /** One cluster batch, in turn with the batches before it (see the top of this file). */
  private async sendClusterBatch(batch: PendingSend[]): Promise<void> {
    const published = this.lastPublished;
    const settled = this.lastSettled;
    let donePublishing = () => {};
    let doneSettling = () => {};
    this.lastPublished = new Promise((resolve) => {
      donePublishing = resolve;
    });
    this.lastSettled = new Promise((resolve) => {
      doneSettling = resolve;
    });
    try {
      const outcomes = await this.storeAndPublish(batch, published, donePublishing);
      await settled;
      for (const { send, id, here, delivered } of outcomes) {
        send.resolve({ message: toMessage(send, id), delivered, here });
      }
    } finally {
      donePublishing();
      doneSettling();
    }
  }

  private async storeAndPublish(
    batch: PendingSend[],
    published: Promise<void>,
    donePublishing: () => void,
  ): Promise<{ send: PendingSend; id: string; here: boolean; delivered: boolean }[]> {
    const k = this.keys;
    const header = this.header();
    // 1. The recipients' inboxes, per slot; a slot that failed fails only its sends.
    const stored: Stored[] = [];
    await Promise.all(
      groupBySlot(this.client, batch, (send) => k.inbox(send.to)).map(async (group) => {
        try {
          const renewed = group.filter((send) => this.renewals.due(send.to));
          const reply = (await this.storesInTurn.run(keySlot(k.inbox(group[0]?.to ?? "")), () =>
            this.storeScript(
              [
                ...group.flatMap((send) => [k.inbox(send.to), k.presence(send.to)]),
                ...renewed.map((send) => k.cursor(send.to)),
              ],
              [
                ...header,
                ...group.flatMap((send) => [
                  send.from,
                  send.text,
                  send.sentAt,
                  renewed.includes(send) ? 1 : 0,
                ]),
              ],
            ),
          )) as [string, number, string[], number][];
          group.forEach((send, i) => {
            const [id, here, channels, held] = reply[i] ?? ["", 0, [], 0];
            stored.push({ send, id: String(id), here: here === 1, channels, held: held === 1 });
          });
        } catch (error) {
          this.renewals.forget();
          for (const send of group) send.reject(error);
        }
      }),
    );
    // 2. The senders' copies, per slot: where the message already is, a failure here is logged.
    const outbox = new Map<string, PendingDelivery[]>();
    const post = (channel: string, delivery: PendingDelivery) => {
      const deliveries = outbox.get(channel);
      if (deliveries) deliveries.push(delivery);
      else outbox.set(channel, [delivery]);
    };
    for (const { send, id, channels } of stored) {
      for (const channel of channels) {
        post(channel, { entry: `${recipientHead(send)}${id}"}` });
      }
    }
    await Promise.all(
      groupBySlot(
        this.client,
        stored.filter(({ send }) => send.session !== undefined),
        ({ send }) => k.inbox(send.from),
      ).map(async (group) => {
        try {
          const renewed = group.filter(({ send }) => this.renewals.due(send.from));
          const reply = (await this.copiesInTurn.run(
            keySlot(k.inbox(group[0]?.send.from ?? "")),
            () =>
              this.copyScript(
                [
                  ...group.flatMap(({ send }) => [k.inbox(send.from), k.presence(send.from)]),
                  ...renewed.map(({ send }) => k.cursor(send.from)),
                ],
                [
                  ...header,
                  ...group.flatMap((copy) => [
                    copy.send.to,
                    copy.send.text,
                    copy.send.sentAt,
                    copy.id,
                    renewed.includes(copy) ? 1 : 0,
                  ]),
                ],
              ),
          )) as [number, string[]][];
          group.forEach(({ send, id }, i) => {
            for (const channel of reply[i]?.[1] ?? []) {
              post(channel, { entry: `${copyHead(send)}${id}"}` });
            }
          });
        } catch (error) {
          this.renewals.forget();
          this.logger.warn({ err: (error as Error).message }, "storing senders' copies failed");
        }
      }),
    );
    // 3. One SPUBLISH per destination worker (its channel's shard only), once the last batch's
    // are answered. A channel that fails (its shard is failing over) or reaches nobody gets them
    // later, in order (PublishRetries), and later batches queue behind them.
    await published;
    const reached = new Set<string>();
    await Promise.all(
      [...outbox].map(async ([channel, deliveries]) => {
        if (!this.retries.has(channel)) {
          const payload = `[${deliveries.map((d) => d.entry).join(",")}]`;
          const receivers = await this.publish(channel, payload).catch((error: Error) => {
            this.logger.warn({ channel, err: error.message }, "SPUBLISH failed; will retry");
            return 0;
          });
          if (receivers > 0) {
            reached.add(channel);
            return;
          }
        }
        this.retries.add(channel, deliveries);
      }),
    );
    donePublishing();
    // 4. The missed marks of recipients held by a worker that no live worker took a message for
    // (a shard failing over, a worker just killed): rare, so usually no call at all.
    const missed: [string, string][] = [];
    const outcomes = stored.map(({ send, id, here, channels, held }) => {
      const delivered = here || channels.some((channel) => reached.has(channel));
      if (held && !delivered) missed.push([send.to, id]);
      return { send, id, here, delivered };
    });
    if (missed.length > 0) {
      await this.markMissed(missed).catch((error: Error) => {
        this.logger.warn({ err: error.message }, "marking missed messages failed");
      });
    }
    return outcomes;
  }
}

function toMessage({ from, to, text, sentAt }: PendingSend, id: string): NewMessage {
  return { id, from, to, message: text, sentAt };
}

/** The published JSON of a message for its recipient, up to its id. */
function recipientHead({ from, to, text, sentAt }: PendingSend): string {
  return `${JSON.stringify({ from, to, message: text, sentAt }).slice(0, -1)},"id":"`;
}

/** The published JSON of a sender's copy for their other sessions, up to its id ("": none). */
function copyHead({ from, to, text, sentAt, session }: PendingSend): string {
  if (session === undefined) return "";
  const entry = { user: from, except: session, from, to, message: text, sentAt };
  return `${JSON.stringify(entry).slice(0, -1)},"id":"`;
}

/** Parses a payload from a delivery channel: a JSON array of deliveries (or, from hosts of an
 * earlier version, one message). Entries that are not messages are left out. */
export function parseDeliveries(payload: string): Delivery[] {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return [];
  }
  const entries = Array.isArray(value) ? value : [value];
  const deliveries: Delivery[] = [];
  for (const entry of entries) {
    const message = toNewMessage(entry);
    if (!message) continue;
    const { user, except } = entry as { user?: unknown; except?: unknown };
    deliveries.push({
      user: typeof user === "string" ? user : message.to,
      message,
      exceptSession: typeof except === "string" && except !== "" ? except : undefined,
    });
  }
  return deliveries;
}

function toNewMessage(entry: unknown): NewMessage | undefined {
  const value = entry as Partial<NewMessage> | null;
  if (
    value &&
    typeof value.id === "string" &&
    typeof value.from === "string" &&
    typeof value.to === "string" &&
    typeof value.message === "string" &&
    typeof value.sentAt === "number"
  ) {
    return {
      id: value.id,
      from: value.from,
      to: value.to,
      message: value.message,
      sentAt: value.sentAt,
    };
  }
  return undefined;
}
