/**
 * Deliveries to a worker's channel that could not be published on a Redis Cluster: the shard
 * owning the channel failed (SPUBLISH errors until a replica is promoted), or reached no
 * subscriber (the worker's sharded subscriber is moving to the new master). They are stored
 * already; they wait here, in order, and are published again every `intervalMs` until one
 * lands or `deadlineMs` passed (then they stay in the inboxes: the recipients' missed marks,
 * set as they missed them, make the next log in replay them). While a channel has some waiting, later deliveries to it
 * queue behind them, so a recipient never gets them out of order.
 */
export interface PendingDelivery {
  /** One published JSON entry. */
  entry: string;
}

interface Queue {
  deliveries: PendingDelivery[];
  since: number;
}

export interface PublishRetryOptions {
  intervalMs: number;
  deadlineMs: number;
  /** Most deliveries waiting over all channels; more are left to the inboxes. */
  maxDeliveries: number;
}

export const PUBLISH_RETRY_DEFAULTS: Readonly<PublishRetryOptions> = Object.freeze({
  intervalMs: 200,
  deadlineMs: 15_000,
  maxDeliveries: 10_000,
});

export class PublishRetries {
  private readonly queues = new Map<string, Queue>();
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    /** Publishes a payload; resolves with the number of subscribers reached. */
    private readonly publish: (channel: string, payload: string) => Promise<number>,
    private readonly logger: { warn(obj: object, msg?: string): void },
    private readonly options: PublishRetryOptions = PUBLISH_RETRY_DEFAULTS,
  ) {}

  /** Deliveries waiting now (over all channels). */
  get pending(): number {
    return this.size;
  }

  has(channel: string): boolean {
    return this.queues.has(channel);
  }

  /** Queues deliveries behind those already waiting for `channel`; false when full. */
  add(channel: string, deliveries: PendingDelivery[]): boolean {
    if (this.size + deliveries.length > this.options.maxDeliveries) {
      this.logger.warn({ channel, waiting: this.size }, "too many deliveries waiting; left stored");
      return false;
    }
    const queue = this.queues.get(channel);
    if (queue) queue.deliveries.push(...deliveries);
    else this.queues.set(channel, { deliveries: [...deliveries], since: Date.now() });
    this.size += deliveries.length;
    this.timer ??= setInterval(() => void this.retry(), this.options.intervalMs);
    this.timer.unref();
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.queues.clear();
    this.size = 0;
  }

  private async retry(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await Promise.all(
        [...this.queues].map(async ([channel, queue]) => {
          const taken = queue.deliveries.length;
          const payload = `[${queue.deliveries.map((d) => d.entry).join(",")}]`;
          const reached = await this.publish(channel, payload).catch(() => 0);
          if (reached > 0) {
            this.drop(channel, queue, taken);
          } else if (Date.now() - queue.since > this.options.deadlineMs) {
            this.logger.warn(
              { channel, deliveries: queue.deliveries.length },
              "a worker's channel stayed unreachable; its deliveries are left in the inboxes",
            );
            this.drop(channel, queue, queue.deliveries.length);
          }
        }),
      );
    } finally {
      this.running = false;
      if (this.queues.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }
  }

  /** Removes the first `count` deliveries of a queue (more may have joined meanwhile). */
  private drop(channel: string, queue: Queue, count: number): void {
    queue.deliveries.splice(0, count);
    this.size -= count;
    if (queue.deliveries.length === 0) this.queues.delete(channel);
  }
}
