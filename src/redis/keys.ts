/**
 * Every Redis key and channel chat-server uses, in one place. All of them start with the prefix,
 * and every Lua script receives the keys it touches in KEYS (none builds a key name itself), so
 * the layout below is the only one there is.
 *
 *   <p>:inbox:{<user>}             stream   the user's inbox; entry ids are message ids
 *   <p>:cursor:{<user>}            string   id of the newest message no session of <user> needs
 *                                           (brought up to date when they log in or leave)
 *   <p>:missed:{<user>}            string   id of the first message stored while a worker held
 *                                           <user> that no live worker took (cursors stop before it)
 *   <p>:presence:{<user>}          hash     worker -> its channel, per worker holding <user>
 *   <p>:watchers:{<user>}          set      workers watching <user>'s presence
 *   <p>:workers                    zset     worker key -> expiry (Redis server time, ms)
 *   <p>:worker-users:{<worker>}    set      users registered by that worker (for sweeping it)
 *   <p>:deliver:{<worker>}         channel  messages for users with a session on that worker
 *
 * The hash tags put one user's keys in one slot of a Redis Cluster (a script about one user,
 * or about a batch of users of one slot, never crosses slots), and each worker's channel and
 * user set in a slot of their own: sharded pub/sub then carries a delivery to the one shard that
 * owns the destination worker's channel. The online users are the existing presence hashes
 * (listed by SCAN on each master); no key every log in must touch.
 */
import { randomBytes } from "node:crypto";

export class RedisKeys {
  readonly workers: string;

  constructor(readonly prefix: string) {
    this.workers = `${prefix}:workers`;
  }

  inbox(user: string): string {
    return `${this.prefix}:inbox:{${user}}`;
  }

  cursor(user: string): string {
    return `${this.prefix}:cursor:{${user}}`;
  }

  missed(user: string): string {
    return `${this.prefix}:missed:{${user}}`;
  }

  presence(user: string): string {
    return `${this.prefix}:presence:{${user}}`;
  }

  watchers(user: string): string {
    return `${this.prefix}:watchers:{${user}}`;
  }

  /** SCAN pattern of every presence hash (glob characters in the prefix escaped). */
  get presencePattern(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, "\\$&")}:presence:{*}`;
  }

  /** The user a presence hash belongs to, or undefined for another key. */
  userOfPresence(key: string): string | undefined {
    const head = `${this.prefix}:presence:{`;
    return key.startsWith(head) && key.endsWith("}") ? key.slice(head.length, -1) : undefined;
  }

  workerUsers(worker: string): string {
    return `${this.prefix}:worker-users:{${worker}}`;
  }

  deliver(worker: string): string {
    return `${this.prefix}:deliver:{${worker}}`;
  }
}

/**
 * A worker's name in presence data: `<nodeId>#<workerId>#<incarnation>`. The random incarnation
 * keeps a restarted worker (same host, same worker id) apart from the entries its killed
 * predecessor left behind, so those are swept rather than kept alive by the newcomer.
 */
export function makeWorkerKey(nodeId: string, workerId: number | string): string {
  return `${nodeId}#${workerId}#${randomBytes(4).toString("hex")}`;
}
