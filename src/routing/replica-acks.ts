/**
 * Redis replicates asynchronously: a message the master stored and we acknowledged could be
 * missing from the replica that Sentinel (or the cluster) promotes when the master dies. With `replicas` > 0, a
 * send is acknowledged only after WAIT says that many replicas have it. One WAIT covers every
 * send whose reply arrived in the same event-loop turn (WAIT counts all earlier writes of the
 * connection), so the cost is one more command per turn, not per message. On a cluster WAIT goes
 * to every master, on the connection the writes went through, in parallel. A node the client
 * still takes for a master may have become a replica (a fail-over, or a killed master that came
 * back and was demoted; the client learns it at its next slot refresh): it refuses WAIT, and our
 * writes went to its slots' new master (it would have answered them MOVED), so it is left out
 * and the slot map refreshed.
 *
 * When the replicas do not answer in time (none left, or lagging) the message is still
 * acknowledged, it is on the master, and WAIT is skipped for a while, so a lost replica slows
 * chat down for one timeout, not for every turn.
 */
import type { Redis } from "ioredis";
import type { BackendLogger, RedisClient } from "../redis/connection.js";
import { isCluster } from "../redis/slots.js";

const SKIP_AFTER_SHORTFALL_MS = 5000;
/** How a node that is a replica now refuses WAIT. */
const DEMOTED = /WAIT cannot be used with replica/;

const ignore = () => {};

export class ReplicaAcks {
  private pending: Promise<void> | undefined;
  /** The newest wait handed out: each resolves only after the one before it settled. */
  private last: Promise<void> = Promise.resolve();
  private skipUntil = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly replicas: number,
    private readonly timeoutMs: number,
    private readonly logger: BackendLogger,
  ) {}

  /** Resolves once the writes so far reached the replicas (or could not in time); rejects when
   * the connection failed, since then the writes may be lost with the master. */
  wait(): Promise<void> {
    if (this.replicas <= 0) return Promise.resolve();
    // Sends are delivered here once their wait is over: a later one, skipping WAIT, must not
    // overtake an earlier one still waiting for its replicas (nor one WAIT another).
    if (Date.now() < this.skipUntil) return this.last.then(ignore, ignore);
    if (!this.pending) {
      const waiting = this.waitForReplicas();
      waiting.catch(ignore);
      const previous = this.last;
      this.pending = previous.then(ignore, ignore).then(() => waiting);
      this.last = this.pending;
    }
    return this.pending;
  }

  private waitForReplicas(): Promise<void> {
    return new Promise<void>((resolve) => process.nextTick(resolve)).then(async () => {
      this.pending = undefined;
      const client = this.client;
      const nodes: Redis[] = isCluster(client) ? client.nodes("master") : [client];
      const replies = await Promise.all(
        nodes.map((node) =>
          node.call("WAIT", String(this.replicas), String(this.timeoutMs)).then(Number, (err) => {
            if (!isCluster(client) || !DEMOTED.test((err as Error).message)) throw err;
            client.refreshSlotsCache();
            return Number.POSITIVE_INFINITY;
          }),
        ),
      );
      const acked = Math.min(...replies);
      if (acked < this.replicas) {
        this.skipUntil = Date.now() + SKIP_AFTER_SHORTFALL_MS;
        this.logger.warn(
          { acked, wanted: this.replicas, timeoutMs: this.timeoutMs },
          "replicas did not confirm writes in time; acknowledging from the master alone for now",
        );
      }
    });
  }
}
