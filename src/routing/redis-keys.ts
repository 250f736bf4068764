/**
 * Every Redis key and channel chat-server uses, in one place. All of them start with the prefix.
 * The Lua scripts build some of these names themselves (a sweep visits other users' keys); they
 * receive the prefix and mirror the patterns below, marked "Lua mirror" where they do.
 *
 *   <p>:inbox:{<user>}          stream   the user's inbox; entry ids are message ids
 *   <p>:cursor:{<user>}         string   id of the newest message handed to a session of <user>
 *   <p>:presence:{<user>}       hash     field per worker holding a session of <user>
 *   <p>:online                  zset     users with at least one worker in their presence hash
 *   <p>:workers                 zset     worker key -> expiry (Redis server time, ms)
 *   <p>:worker:<worker>:users   set      users registered by that worker (for sweeping it)
 *   <p>:deliver:<worker>        channel  messages for users with a session on that worker
 *
 * The `{user}` hash tags keep one user's keys in one slot, should these keys ever move to a
 * Redis Cluster; the scripts would need their dynamic keys declared first.
 */
import { randomBytes } from "node:crypto";

export class RedisKeys {
  readonly online: string;
  readonly workers: string;

  constructor(readonly prefix: string) {
    this.online = `${prefix}:online`;
    this.workers = `${prefix}:workers`;
  }

  inbox(user: string): string {
    return `${this.prefix}:inbox:{${user}}`;
  }

  cursor(user: string): string {
    return `${this.prefix}:cursor:{${user}}`;
  }

  presence(user: string): string {
    return `${this.prefix}:presence:{${user}}`;
  }

  workerUsers(worker: string): string {
    return `${this.prefix}:worker:${worker}:users`;
  }

  /** Prefix of every worker's delivery channel; the worker key follows it. */
  get deliverPrefix(): string {
    return `${this.prefix}:deliver:`;
  }

  deliver(worker: string): string {
    return `${this.deliverPrefix}${worker}`;
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
