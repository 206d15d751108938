/**
 * Lua scripts over one device's keys (KEYS: inbox, expiry, frames, acked, recalls). Every script
 * first purges expired entries, so expired messages are never returned and never accumulate.
 * Frames hash fields: `<id>` → the ready-to-send `msg` frame; `o:<id>` → offered to a connection
 * at least once (the device may have it).
 */
const PURGE = `
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, e in ipairs(expired) do
  redis.call('ZREM', KEYS[1], e)
  redis.call('HDEL', KEYS[3], e, 'o:' .. e)
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
local function drop(id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id, 'o:' .. id)
end
`;

/**
 * ARGV: now, id, sent_at, expires_at, frame, max, override_id ('' for none), acked_ttl_ms.
 * Returns { status ('ok'|'dup'), replaces (0 none, 1 replaced unseen, 2 frame carries replaces),
 *           dropped ids (inbox_full), expired ids }.
 */
export const INSERT_LUA = `${PURGE}
local id = ARGV[2]
if redis.call('HEXISTS', KEYS[3], id) == 1 or redis.call('ZSCORE', KEYS[4], id) then
  return {'dup', 0, {}, expired}
end
local frame = ARGV[5]
local override = ARGV[7]
local replaced = 0
if override ~= '' then
  if redis.call('HEXISTS', KEYS[3], override) == 1 then
    replaced = 1
    if redis.call('HEXISTS', KEYS[3], 'o:' .. override) == 1 then replaced = 2 end
    drop(override)
  elseif redis.call('ZSCORE', KEYS[4], override) then
    replaced = 2
  end
  if replaced == 2 then
    frame = string.sub(frame, 1, -2) .. ',"replaces":' .. cjson.encode(override) .. '}'
  end
end
redis.call('ZADD', KEYS[1], ARGV[3], id)
redis.call('ZADD', KEYS[2], ARGV[4], id)
redis.call('HSET', KEYS[3], id, frame)
local dropped = {}
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[6])
if over > 0 then
  for _, o in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
    drop(o)
    dropped[#dropped + 1] = o
  end
end
-- The keys live as long as their longest-lived entry, so an abandoned device's inbox disappears.
-- The three keys always get the same deadline, so the first one's TTL speaks for all of them.
local expireAt = tonumber(ARGV[4]) + 60000
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or now + ttl < expireAt then
  for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], expireAt) end
end
return {'ok', replaced, dropped, expired}
`;

/**
 * ARGV: now, count. Returns { flat [id, frame, id, frame, …] oldest first, expired ids } and marks
 * the returned entries as offered.
 */
export const FETCH_LUA = `${PURGE}
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local out = {}
if #ids > 0 then
  local frames = redis.call('HMGET', KEYS[3], unpack(ids))
  local offered = {}
  for i, id in ipairs(ids) do
    if frames[i] then
      out[#out + 1] = id
      out[#out + 1] = frames[i]
      offered[#offered + 1] = 'o:' .. id
      offered[#offered + 1] = '1'
    end
  end
  if #offered > 0 then redis.call('HSET', KEYS[3], unpack(offered)) end
end
return {out, expired}
`;

/** ARGV: now, acked_ttl_ms, ids…. Removes acknowledged entries and remembers the ids (bounded). */
export const ACK_LUA = `${PURGE}
local removed = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[3], id) == 1 then removed = removed + 1 end
  drop(id)
  redis.call('ZADD', KEYS[4], now, id)
end
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -257)
redis.call('PEXPIRE', KEYS[4], ARGV[2])
return removed
`;

/**
 * ARGV: now, id, recall_ttl_ms. Returns 'removed' (never offered), 'had' (the device may have it: a
 * recall frame is queued in the recalls set) or 'none'.
 */
export const RECALL_LUA = `${PURGE}
local id = ARGV[2]
local had = false
local result = 'none'
if redis.call('HEXISTS', KEYS[3], id) == 1 then
  had = redis.call('HEXISTS', KEYS[3], 'o:' .. id) == 1
  drop(id)
  result = 'removed'
elseif redis.call('ZSCORE', KEYS[4], id) then
  had = true
end
if had then
  redis.call('SADD', KEYS[5], id)
  redis.call('PEXPIRE', KEYS[5], ARGV[3])
  result = 'had'
end
return result
`;

/** KEYS: recalls. Takes every pending recall id of the device. */
export const TAKE_RECALLS_LUA = `
local ids = redis.call('SMEMBERS', KEYS[1])
if #ids > 0 then redis.call('DEL', KEYS[1]) end
return ids
`;

/** KEYS: presence. ARGV: value, ttl_ms. Claims the device for this connection; returns the old holder. */
export const CLAIM_LUA = `
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return old
`;

/** KEYS: presence, seen. ARGV: value, now, seen_ttl_ms. Releases only this connection's claim. */
export const RELEASE_LUA = `
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
