/**
 * Bounds log-in replays. A replay is up to 1000 stored messages read from the inbox and copied
 * through the worker (from the embedded database, or from Redis): repeated log ins (log out,
 * log in, …) each fetched one, and a few connections could make a worker hold gigabytes. So:
 * one replay at a time per connection (another log in meanwhile is refused), and at most
 * `maxInFlight` per worker at once; the others wait their turn in order.
 */
export class ReplayGate<S extends object> {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly busy = new WeakSet<S>();

  constructor(private readonly maxInFlight: number) {}

  /** Whether `session` has a replay being fetched or waiting for its turn. */
  isBusy(session: S): boolean {
    return this.busy.has(session);
  }

  /** Runs `fetch` for `session` once a slot is free. */
  async run<T>(session: S, fetch: () => Promise<T>): Promise<T> {
    this.busy.add(session);
    try {
      await this.acquire();
      try {
        return await fetch();
      } finally {
        this.release();
      }
    } finally {
      this.busy.delete(session);
    }
  }

  /** Replays waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  private acquire(): Promise<void> {
    if (this.running < this.maxInFlight) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next in line.
    if (next) next();
    else this.running--;
  }
}
