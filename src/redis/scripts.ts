/**
 * The Lua scripts of the Redis back-end. Every key a script touches comes in KEYS (see keys.ts;
 * no script builds a key name), and the callers only ever pass keys of one slot together in
 * cluster mode, so each script runs on one node.
 *
 * Presence hashes map worker -> that worker's delivery channel, so a script that routes reads
 * the channel it publishes to instead of building it. The dead workers a caller knows of (from
 * its last heartbeat) come in ARGV; a script skips them in the presence it reads.
 */

/** Lua: skips the dead list of ARGV (count at `base`, names after it); leaves `dead`, `argBase`. */
const LUA_DEAD = `
local dead = {}
local deadCount = tonumber(ARGV[DEAD_AT])
for i = 1, deadCount do dead[ARGV[DEAD_AT + i]] = true end
local argBase = DEAD_AT + deadCount
`;

/**
 * Lua: `holders(presenceKey)` reads a presence hash once per script: whether `self` holds the
 * user, the channels of the other live workers that do (dead ones are skipped), and whether any
 * worker, live or dead, holds them (`held`).
 */
const LUA_HOLDERS = `
local routes = {}
local function holders(presenceKey)
  local route = routes[presenceKey]
  if route then return route end
  local flat = redis.call('HGETALL', presenceKey)
  route = { here = false, channels = {}, held = #flat > 0 }
  for j = 1, #flat, 2 do
    local worker = flat[j]
    if dead[worker] then
      -- skipped: the sweep removes it (and tells the user's watchers if they went offline)
    elseif worker == self then route.here = true
    else route.channels[#route.channels + 1] = flat[j + 1] end
  end
  routes[presenceKey] = route
  return route
end
`;

/**
 * Lua: `settle(inboxKey, cursorKey, missedKey, ttl)` brings a cursor up to date while (or just as)
 * its user is online. Sends do not move cursors: while a worker holds the user, every message
 * stored for them is handed to a live worker, except those after `missedKey` (the first message
 * that no live worker took although one held the user). So the cursor moves to the newest entry
 * before the missed one, or the newest entry, never back; the missed mark is then used up.
 */
const LUA_SETTLE = `
local function idParts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function isLater(id, than)
  if not than then return true end
  local am, as = idParts(id)
  local bm, bs = idParts(than)
  if not (am and bm) then return true end
  return am > bm or (am == bm and as > bs)
end
local function settle(inboxKey, cursorKey, missedKey, ttl)
  local missed = redis.call('GET', missedKey)
  local top
  if missed then
    redis.call('DEL', missedKey)
    top = redis.call('XREVRANGE', inboxKey, '(' .. missed, '-', 'COUNT', 1)[1]
  else
    top = redis.call('XREVRANGE', inboxKey, '+', '-', 'COUNT', 1)[1]
  end
  if top and isLater(top[1], redis.call('GET', cursorKey)) then
    redis.call('SET', cursorKey, top[1], 'PX', ttl)
  end
end
`;

/**
 * Lua: `copyToSender(inboxKey, renew, id, to, text, sentAt)` stores the sender's copy
 * of a sent message under the recipient's id. A stream only takes ids above its newest one: when
 * the sender's inbox already holds a newer entry (a message to them stored a moment later, or on
 * a cluster node whose clock runs ahead), the copy takes the next id of that stream and keeps the
 * message id in field `i`, which is what readers report. The sender's cursor stays where it is:
 * a log in never replays a copy (LUA_DRAIN_AFTER_CURSOR skips them), the session that sent it has
 * seen it. With `renew`, the inbox gets its expiry (inbox-renewals.ts; the callers renew the
 * sender's cursor with it, as a key after the messages).
 */
const LUA_COPY = `
local function copyToSender(inboxKey, renew, id, to, text, sentAt)
  local stored = redis.pcall('XADD', inboxKey, 'MAXLEN', '~', maxLength, id,
    't', to, 'm', text, 's', sentAt)
  if type(stored) == 'table' and stored.err then
    redis.call('XADD', inboxKey, 'MAXLEN', '~', maxLength, '*',
      't', to, 'm', text, 's', sentAt, 'i', id)
  end
  if renew then redis.call('PEXPIRE', inboxKey, ttl) end
end
`;

/** Lua: `append(parts, channel, piece…)` adds one JSON entry to a channel's pending array. */
const LUA_OUTBOX = `
local outbox, destinations = {}, {}
local function append(channel, head, id)
  local parts = outbox[channel]
  if not parts then
    parts = { '[' }
    outbox[channel] = parts
    destinations[#destinations + 1] = channel
  else
    parts[#parts + 1] = ','
  end
  parts[#parts + 1] = head
  parts[#parts + 1] = id
  parts[#parts + 1] = '"}'
end
`;

/**
 * One Redis (direct or Sentinel): a whole batch of sends in one step.
 * KEYS per message: recipient inbox, cursor, presence, missed mark; sender inbox, presence; then,
 * after the messages, the cursors of the senders whose inbox this batch renews.
 * ARGV: self, max length, keep (expiry of inboxes and cursors), dead count, dead…, then per
 * message: from, to, text, sentAt, recipient head, sender head (JSON up to the id; empty: no
 * copy for the sender), renewals (1: the recipient's inbox, 2: the sender's; inbox-renewals.ts).
 * For each message: XADD to the recipient's inbox (entry id = message id), the sender's copy
 * with the same id, then one PUBLISH per destination channel for the whole batch. Cursors do not
 * move here (LUA_SETTLE): a message no live worker took although a worker held the recipient
 * (dead, or its subscriber gone) leaves the missed mark, so a later settle stops before it.
 * Reply per message: id, flags (1 delivered, 2 recipient held here). The sender's sessions here
 * are this worker's to serve.
 */
export const SEND_BATCH_SCRIPT = `
local self, maxLength, ttl = ARGV[1], ARGV[2], ARGV[3]
${LUA_DEAD.replaceAll("DEAD_AT", "4")}
${LUA_HOLDERS}
${LUA_COPY}
${LUA_OUTBOX}
local count = math.floor((#ARGV - argBase) / 7)
local ids, routeOf = {}, {}
for i = 1, count do
  local k, a = (i - 1) * 6, argBase + (i - 1) * 7
  local inboxKey, presenceKey = KEYS[k + 1], KEYS[k + 3]
  local from, to, text, sentAt = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local renew = tonumber(ARGV[a + 7])
  local id = redis.call('XADD', inboxKey, 'MAXLEN', '~', maxLength, '*',
    'f', from, 'm', text, 's', sentAt)
  if renew % 2 == 1 then
    redis.call('PEXPIRE', inboxKey, ttl)
    redis.call('PEXPIRE', KEYS[k + 2], ttl)
  end
  local route = holders(presenceKey)
  for _, channel in ipairs(route.channels) do append(channel, ARGV[a + 5], id) end
  local copyHead = ARGV[a + 6]
  if copyHead ~= '' then
    copyToSender(KEYS[k + 5], renew >= 2, id, to, text, sentAt)
    for _, channel in ipairs(holders(KEYS[k + 6]).channels) do append(channel, copyHead, id) end
  end
  ids[i], routeOf[i] = id, route
end
for j = count * 6 + 1, #KEYS do redis.call('PEXPIRE', KEYS[j], ttl) end
local reached = {}
for _, channel in ipairs(destinations) do
  local parts = outbox[channel]
  parts[#parts + 1] = ']'
  reached[channel] = redis.call('PUBLISH', channel, table.concat(parts)) > 0
end
local reply = {}
for i = 1, count do
  local route = routeOf[i]
  local delivered = route.here
  if not delivered then
    for _, channel in ipairs(route.channels) do
      if reached[channel] then delivered = true end
    end
  end
  if route.held and not delivered then
    redis.call('SET', KEYS[(i - 1) * 6 + 4], ids[i], 'PX', ttl, 'NX')
  end
  reply[i * 2 - 1] = ids[i]
  reply[i * 2] = (delivered and 1 or 0) + (route.here and 2 or 0)
end
return reply
`;

/**
 * Cluster, step 1, per slot: stores messages in their recipients' inboxes and reads where the
 * recipients are. KEYS per message: inbox, presence; then the cursors renewed with their inboxes
 * (a cursor may not exist: one per message would make a slot being resharded answer TRYAGAIN).
 * ARGV: self, max length, keep, dead count, dead…, then per message: from, text, sentAt, renew
 * (1: renew the inbox).
 * Reply per message: { id, here (0/1), channels, held (0/1: some worker, live or dead, holds
 * the recipient) }.
 */
export const STORE_SCRIPT = `
local self, maxLength, ttl = ARGV[1], ARGV[2], ARGV[3]
${LUA_DEAD.replaceAll("DEAD_AT", "4")}
${LUA_HOLDERS}
local count = math.floor((#ARGV - argBase) / 4)
local reply = {}
for i = 1, count do
  local inboxKey, a = KEYS[i * 2 - 1], argBase + (i - 1) * 4
  local id = redis.call('XADD', inboxKey, 'MAXLEN', '~', maxLength, '*',
    'f', ARGV[a + 1], 'm', ARGV[a + 2], 's', ARGV[a + 3])
  if ARGV[a + 4] == '1' then redis.call('PEXPIRE', inboxKey, ttl) end
  local route = holders(KEYS[i * 2])
  reply[i] = { id, route.here and 1 or 0, route.channels, route.held and 1 or 0 }
end
for j = count * 2 + 1, #KEYS do redis.call('PEXPIRE', KEYS[j], ttl) end
return reply
`;

/**
 * Cluster, step 2, per slot: the senders' copies. KEYS per message: sender inbox, presence; then
 * the cursors renewed with their inboxes (as in step 1). ARGV: self, max length, keep, dead
 * count, dead…, then per message: to, text, sentAt, id, renew (1: renew the inbox). Reply per
 * message: { here (0/1), channels }.
 */
export const COPY_SCRIPT = `
local self, maxLength, ttl = ARGV[1], ARGV[2], ARGV[3]
${LUA_DEAD.replaceAll("DEAD_AT", "4")}
${LUA_HOLDERS}
${LUA_COPY}
local count = math.floor((#ARGV - argBase) / 5)
local reply = {}
for i = 1, count do
  local a = argBase + (i - 1) * 5
  copyToSender(KEYS[i * 2 - 1], ARGV[a + 5] == '1',
    ARGV[a + 4], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
  local route = holders(KEYS[i * 2])
  reply[i] = { route.here and 1 or 0, route.channels }
end
for j = count * 2 + 1, #KEYS do redis.call('PEXPIRE', KEYS[j], ttl) end
return reply
`;

/**
 * Cluster, step 3, per slot, only for messages no live worker took although a worker held the
 * recipient when they were stored: sets the missed mark (see SEND_BATCH_SCRIPT). When the
 * recipient's last session left meanwhile (no presence now), their cursor was settled already,
 * maybe past this message: it goes back to before it. KEYS per message: presence, inbox, cursor,
 * missed mark. ARGV: keep, then the id per message.
 */
export const MISSED_SCRIPT = `
local ttl = ARGV[1]
${LUA_SETTLE}
for i = 1, #KEYS / 4 do
  local presenceKey, inboxKey, cursorKey = KEYS[i * 4 - 3], KEYS[i * 4 - 2], KEYS[i * 4 - 1]
  local id = ARGV[i + 1]
  if redis.call('EXISTS', presenceKey) == 1 then
    redis.call('SET', KEYS[i * 4], id, 'PX', ttl, 'NX')
  elseif not isLater(id, redis.call('GET', cursorKey)) then
    local before = redis.call('XREVRANGE', inboxKey, '(' .. id, '-', 'COUNT', 1)[1]
    if before then redis.call('SET', cursorKey, before[1], 'PX', ttl)
    else redis.call('DEL', cursorKey) end
  end
end
return 0
`;

/**
 * Lua: the received entries after the cursor (the newest `limit` entries, oldest first), and the
 * cursor moved to the newest, in one step, so two sessions logging in at once never both get the
 * same ones. Senders' copies (first field `t`) are left out: the session that sent one has seen
 * it. Expects locals `inboxKey`, `cursorKey`, `limit`, `ttl`; leaves `entries`.
 */
const LUA_DRAIN_AFTER_CURSOR = `
local cursor = redis.call('GET', cursorKey)
local newest = redis.call('XREVRANGE', inboxKey, '+', cursor and ('(' .. cursor) or '-', 'COUNT', limit)
local entries = {}
for i = #newest, 1, -1 do
  if newest[i][2][1] ~= 't' then entries[#entries + 1] = newest[i] end
end
if #newest > 0 then
  redis.call('SET', cursorKey, newest[1][1], 'PX', ttl)
end
`;

/**
 * KEYS: inbox, cursor, presence, missed mark. ARGV: limit, ttl. The messages no session has been
 * handed yet (the cursor settled first while the user is online).
 */
export const DRAIN_SCRIPT = `
local inboxKey, cursorKey = KEYS[1], KEYS[2]
local limit, ttl = ARGV[1], ARGV[2]
${LUA_SETTLE}
if redis.call('EXISTS', KEYS[3]) == 1 then settle(inboxKey, cursorKey, KEYS[4], ttl) end
${LUA_DRAIN_AFTER_CURSOR}
return entries
`;

/**
 * Marks users online on a worker and hands back, per user, the messages stored while they were
 * away, and (when it is their first session anywhere) the workers watching them; when they were
 * online already, the cursor settles first. KEYS per user: presence, inbox, cursor, watchers,
 * missed mark. ARGV: worker, its channel, limit, ttl.
 */
export const REGISTER_SCRIPT = `
local worker, channel, limit, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
${LUA_SETTLE}
local result = {}
for i = 1, #KEYS / 5 do
  local presenceKey, inboxKey, cursorKey = KEYS[i * 5 - 4], KEYS[i * 5 - 3], KEYS[i * 5 - 2]
  local watchers = {}
  if redis.call('HSET', presenceKey, worker, channel) == 1 and redis.call('HLEN', presenceKey) == 1 then
    watchers = redis.call('SMEMBERS', KEYS[i * 5 - 1])
  else
    settle(inboxKey, cursorKey, KEYS[i * 5], ttl)
  end
  ${LUA_DRAIN_AFTER_CURSOR}
  result[#result + 1] = { entries, watchers }
end
return result
`;

/**
 * Renews a worker's entry in the registry and lists the workers whose entry expired.
 * KEYS: workers. ARGV: worker, ttl, most dead workers listed; 'leave' as ARGV[4] removes the
 * entry instead. Reply: { 1 if the entry was missing (new, or swept), dead… }.
 */
export const HEARTBEAT_SCRIPT = `
local workers = KEYS[1]
local worker, ttl, maxDead, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
if mode == 'leave' then
  redis.call('ZREM', workers, worker)
  return { 0 }
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local reply = { redis.call('ZADD', workers, now + ttl, worker) }
for _, d in ipairs(redis.call('ZRANGEBYSCORE', workers, '-inf', '(' .. now, 'LIMIT', 0, maxDead)) do
  reply[#reply + 1] = d
end
return reply
`;

/** KEYS: per user, watchers then presence. ARGV: worker, ttl. Returns 1/0 per user: online. */
export const WATCH_SCRIPT = `
local worker, ttl = ARGV[1], ARGV[2]
local online = {}
for i = 1, #KEYS, 2 do
  redis.call('SADD', KEYS[i], worker)
  redis.call('PEXPIRE', KEYS[i], ttl)
  online[#online + 1] = redis.call('EXISTS', KEYS[i + 1])
end
return online
`;

/**
 * Removes a worker from users' presence. KEYS per user: presence, watchers, inbox, cursor, missed
 * mark. ARGV: worker, ttl. When this took the user's last session, their cursor settles (what
 * their sessions took while online) and the reply for them is the watching workers (they went
 * offline); else an empty list.
 */
export const FORGET_SCRIPT = `
local worker, ttl = ARGV[1], ARGV[2]
${LUA_SETTLE}
local reply = {}
for i = 1, #KEYS / 5 do
  local presenceKey = KEYS[i * 5 - 4]
  local watchers = {}
  if redis.call('HDEL', presenceKey, worker) == 1 and redis.call('EXISTS', presenceKey) == 0 then
    settle(KEYS[i * 5 - 2], KEYS[i * 5 - 1], KEYS[i * 5], ttl)
    watchers = redis.call('SMEMBERS', KEYS[i * 5 - 3])
  end
  reply[i] = watchers
end
return reply
`;
