/**
 * Sending in multi-host mode. A worker gathers the sends of a short window (`windowMs`) and
 * hands them to Redis as one Lua script, so storing, reading presence, routing and moving the
 * delivered cursor happen as one step that a concurrent log in cannot fall between, and a busy
 * worker pays one round trip, one script call and one PUBLISH per destination worker for the
 * whole batch instead of for each message. For each message, in order:
 *
 * 1. XADD to the recipient's inbox (the entry id is the message id), trim to ~1000, expire 7 days
 *    after this write (the cursor with it).
 * 2. Read the recipient's presence hash (once per recipient per batch): skip and remove each
 *    worker whose heartbeat expired; note the sender's own worker (delivered locally, no
 *    PUBLISH); queue the message for every other worker. Only workers holding the recipient
 *    are touched, however many hosts there are.
 *
 * Then one PUBLISH per destination worker carries its messages as a JSON array, and each
 * recipient's cursor moves to the newest id a live worker took (PUBLISH reached a subscriber,
 * or it is local). What no live worker took stays after the cursor, and the recipient's next log
 * in (or this worker re-registering) replays it.
 *
 * The published entries are `NewMessage` JSON: the caller sends each without its id
 * (`{"from":…,"sentAt":…,"id":"`) and the script appends `<id>"}`.
 */
import type { Redis } from "ioredis";
import type { InboxLimits } from "../inbox/redis-inbox.js";
import { LUA_NOTIFY_WATCHERS } from "../presence/redis-watch.js";
import type { NewMessage } from "../protocol.js";
import { defineScript, type ScriptCall } from "./redis-connection.js";
import type { RedisKeys } from "./redis-keys.js";
import { TurnBatcher } from "./turn-batcher.js";

/** KEYS: online, workers, then inbox, cursor, presence per message.
 *  ARGV: channel prefix, this worker, max length, ttl, then user, from, text, sentAt, head per message. */
const SEND_BATCH_SCRIPT = `
${LUA_NOTIFY_WATCHERS}
local online, workers = KEYS[1], KEYS[2]
local channelPrefix, self, maxLength, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count = (#KEYS - 2) / 3
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fresh, routes, renewed, outbox, destinations = {}, {}, {}, {}, {}
local ids, routeOf = {}, {}
for i = 1, count do
  local k, a = (i - 1) * 3 + 2, (i - 1) * 5 + 4
  local inboxKey, presenceKey = KEYS[k + 1], KEYS[k + 3]
  local id = redis.call('XADD', inboxKey, 'MAXLEN', '~', maxLength, '*',
    'f', ARGV[a + 2], 'm', ARGV[a + 3], 's', ARGV[a + 4])
  if not renewed[inboxKey] then
    redis.call('PEXPIRE', inboxKey, ttl)
    renewed[inboxKey] = true
  end
  local route = routes[presenceKey]
  if not route then
    route = { here = false, workers = {} }
    local removed = false
    for _, worker in ipairs(redis.call('HKEYS', presenceKey)) do
      local live = fresh[worker]
      if live == nil then
        local expiry = redis.call('ZSCORE', workers, worker)
        live = expiry ~= false and tonumber(expiry) >= now
        fresh[worker] = live
      end
      if not live then
        redis.call('HDEL', presenceKey, worker)
        removed = true
      elseif worker == self then
        route.here = true
      else
        route.workers[#route.workers + 1] = worker
      end
    end
    if removed and redis.call('EXISTS', presenceKey) == 0 then
      redis.call('ZREM', online, ARGV[a + 1])
      notify_watchers(string.sub(channelPrefix, 1, -10), ARGV[a + 1], false)
    end
    routes[presenceKey] = route
  end
  for _, worker in ipairs(route.workers) do
    local parts = outbox[worker]
    if not parts then
      parts = { '[' }
      outbox[worker] = parts
      destinations[#destinations + 1] = worker
    else
      parts[#parts + 1] = ','
    end
    parts[#parts + 1] = ARGV[a + 5]
    parts[#parts + 1] = id
    parts[#parts + 1] = '"}'
  end
  ids[i], routeOf[i] = id, route
end
local reached = {}
for _, worker in ipairs(destinations) do
  local parts = outbox[worker]
  parts[#parts + 1] = ']'
  reached[worker] = redis.call('PUBLISH', channelPrefix .. worker, table.concat(parts)) > 0
end
local reply, newest = {}, {}
for i = 1, count do
  local route = routeOf[i]
  local delivered = route.here
  if not delivered then
    for _, worker in ipairs(route.workers) do
      if reached[worker] then delivered = true end
    end
  end
  local cursorKey = KEYS[(i - 1) * 3 + 4]
  if delivered then newest[cursorKey] = ids[i]
  elseif newest[cursorKey] == nil then newest[cursorKey] = false end
  reply[i * 2 - 1] = ids[i]
  reply[i * 2] = (delivered and 1 or 0) + (route.here and 2 or 0)
end
for cursorKey, id in pairs(newest) do
  if id then redis.call('SET', cursorKey, id, 'PX', ttl)
  else redis.call('PEXPIRE', cursorKey, ttl) end
end
return reply
`;

/**
 * Sends go to Redis at most once per this many ms per worker: a send after a quiet spell goes at
 * the end of its event-loop turn, while under load each call carries what gathered meanwhile
 * (see bench/README.md for what this saves and costs in latency).
 */
export const SEND_WINDOW_MS = 5;
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
  resolve(outcome: SendOutcome): void;
  reject(error: unknown): void;
}

export class RedisSender {
  private readonly batch: TurnBatcher<PendingSend>;
  private batchBytes = 0;
  private readonly script: ScriptCall;

  constructor(
    client: Redis,
    private readonly keys: RedisKeys,
    private readonly worker: string,
    private readonly limits: InboxLimits,
    windowMs: number,
  ) {
    this.script = defineScript(client, "chatSendBatch", "any", SEND_BATCH_SCRIPT);
    this.batch = new TurnBatcher((sends) => this.sendBatch(sends), windowMs);
  }

  send(from: string, to: string, text: string): Promise<SendOutcome> {
    return new Promise((resolve, reject) => {
      this.batch.push({ from, to, text, sentAt: Date.now(), resolve, reject });
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
    const k = this.keys;
    const keys = [k.online, k.workers];
    const args: (string | number)[] = [
      k.deliverPrefix,
      this.worker,
      this.limits.maxLength,
      this.limits.ttlMs,
    ];
    for (const { from, to, text, sentAt } of batch) {
      keys.push(k.inbox(to), k.cursor(to), k.presence(to));
      const head = `${JSON.stringify({ from, to, message: text, sentAt }).slice(0, -1)},"id":"`;
      args.push(to, from, text, sentAt, head);
    }
    this.script(keys, args).then(
      (reply) => {
        // Two entries per message: its id, then 1 if delivered + 2 if held by this worker.
        const outcomes = reply as (string | number)[];
        batch.forEach(({ from, to, text, sentAt, resolve }, i) => {
          const id = String(outcomes[i * 2]);
          const flags = Number(outcomes[i * 2 + 1]);
          resolve({
            message: { id, from, to, message: text, sentAt },
            delivered: (flags & 1) === 1,
            here: (flags & 2) === 2,
          });
        });
      },
      (error: unknown) => {
        for (const send of batch) send.reject(error);
      },
    );
  }
}

/** Parses a payload from a delivery channel: a JSON array of messages (or, from hosts of an
 * earlier version, one message). Entries that are not messages are left out. */
export function parseDeliveries(payload: string): NewMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return [];
  }
  const entries = Array.isArray(value) ? value : [value];
  const messages: NewMessage[] = [];
  for (const entry of entries) {
    const message = toMessage(entry);
    if (message) messages.push(message);
  }
  return messages;
}

function toMessage(entry: unknown): NewMessage | undefined {
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
