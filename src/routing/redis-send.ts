/**
 * Sending in multi-host mode is one Lua script, so storing, reading presence, routing and
 * moving the delivered cursor happen as one step that a concurrent log in cannot fall between:
 *
 * 1. XADD to the recipient's inbox (the entry id is the message id), trim to ~1000, expire 7 days
 *    after this write (the cursor with it).
 * 2. For each worker in the recipient's presence hash: skip and remove it if its heartbeat
 *    expired; note it if it is the sender's own worker (delivered locally, no PUBLISH); else
 *    PUBLISH the message on that worker's channel. Only workers holding the recipient are
 *    touched, however many hosts there are.
 * 3. If a live worker took it (PUBLISH reached a subscriber, or it is local), move the
 *    recipient's cursor to this id: it was handed to a session. Otherwise it stays after the
 *    cursor, and the recipient's next log in (or this worker re-registering) replays it.
 *
 * The published payload is the `NewMessage` JSON: the caller sends it without its id
 * (`{"from":…,"sentAt":…,"id":"`) and the script appends `<id>"}`.
 */
import type { Redis } from "ioredis";
import type { InboxLimits } from "../inbox/redis-inbox.js";
import type { NewMessage } from "../protocol.js";
import { defineScript, type ScriptCall } from "./redis-connection.js";
import type { RedisKeys } from "./redis-keys.js";

const SEND_SCRIPT = `
local inboxKey, cursorKey, presenceKey, online, workers = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local from, text, sentAt, head = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local channelPrefix, self, maxLength, ttl, user = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local id = redis.call('XADD', inboxKey, 'MAXLEN', '~', maxLength, '*', 'f', from, 'm', text, 's', sentAt)
redis.call('PEXPIRE', inboxKey, ttl)
local delivered, here = 0, 0
local holders = redis.call('HKEYS', presenceKey)
if #holders > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local payload = nil
  for _, worker in ipairs(holders) do
    local expiry = redis.call('ZSCORE', workers, worker)
    if not expiry or tonumber(expiry) < now then
      redis.call('HDEL', presenceKey, worker)
    elseif worker == self then
      delivered, here = 1, 1
    else
      payload = payload or (head .. id .. '"}')
      if redis.call('PUBLISH', channelPrefix .. worker, payload) > 0 then delivered = 1 end
    end
  end
  if redis.call('EXISTS', presenceKey) == 0 then redis.call('ZREM', online, user) end
end
if delivered == 1 then
  redis.call('SET', cursorKey, id, 'PX', ttl)
else
  redis.call('PEXPIRE', cursorKey, ttl)
end
return {id, delivered, here}
`;

export interface SendOutcome {
  message: NewMessage;
  /** A live worker took the message (this one or another). */
  delivered: boolean;
  /** This worker holds a session of the recipient: deliver it here. */
  here: boolean;
}

export class RedisSender {
  private readonly script: ScriptCall;

  constructor(
    client: Redis,
    private readonly keys: RedisKeys,
    private readonly worker: string,
    private readonly limits: InboxLimits,
  ) {
    this.script = defineScript(client, "chatSend", 5, SEND_SCRIPT);
  }

  async send(from: string, to: string, text: string): Promise<SendOutcome> {
    const sentAt = Date.now();
    const head = `${JSON.stringify({ from, to, message: text, sentAt }).slice(0, -1)},"id":"`;
    const k = this.keys;
    const reply = (await this.script(
      [k.inbox(to), k.cursor(to), k.presence(to), k.online, k.workers],
      [
        from,
        text,
        sentAt,
        head,
        k.deliverPrefix,
        this.worker,
        this.limits.maxLength,
        this.limits.ttlMs,
        to,
      ],
    )) as [string, number, number];
    return {
      message: { id: reply[0], from, to, message: text, sentAt },
      delivered: reply[1] === 1,
      here: reply[2] === 1,
    };
  }
}

/** Parses a payload from a delivery channel; undefined when it is not a message. */
export function parseDelivery(payload: string): NewMessage | undefined {
  try {
    const value = JSON.parse(payload) as Partial<NewMessage> | null;
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
  } catch {
    // fall through
  }
  return undefined;
}
