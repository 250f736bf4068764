/**
 * The primary's listener in the `workers` accept mode (accept-mode.ts). The workers accept on
 * the port themselves; the primary joins them only while it must answer for the host: while no
 * worker is ready (starting, or all of them crashed: a 503, not a refused connection) and while
 * the host drains (`/readyz` 503 for the load balancer; new sessions refused, polling requests
 * still routed to the draining workers).
 *
 * Leaving the port resets the connections that the kernel queued for this listener and it had
 * not accepted yet; the primary accepts as they come, so that is rarely more than a few.
 */
import type net from "node:net";
import type { Logger } from "pino";
import { listen } from "../listen.js";

export class FallbackListener {
  private changes: Promise<void> = Promise.resolve();

  /** `server` already listens (with `reusePort`) on `port`. */
  constructor(
    private readonly server: net.Server,
    private readonly port: number,
    private readonly host: string,
    private readonly logger: Logger,
  ) {}

  /** Listens while `needed`, else leaves the port to the workers; changes apply in order. */
  need(needed: boolean): Promise<void> {
    this.changes = this.changes.then(() => this.apply(needed));
    return this.changes;
  }

  private async apply(needed: boolean): Promise<void> {
    if (needed === this.server.listening) return;
    if (!needed) {
      this.server.close();
      this.logger.debug("the workers accept connections; the primary stops listening");
      return;
    }
    try {
      await listen(this.server, {
        port: this.port,
        host: this.host,
        reusePort: true,
        backlog: 4096,
      });
      this.logger.debug("the primary listens (no worker ready, or draining)");
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, "the primary cannot listen again");
    }
  }
}
