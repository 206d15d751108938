/**
 * Lua scripts over the devices' keys (per device: inbox, frames, acked, recalls, presence). Inserts,
 * fetches and recalls purge expired entries, so expired messages are never returned and never
 * accumulate.
 *
 * The inbox zset holds two members per entry: the id scored by `sent_at` (the delivery order), and
 * `e:<id>` scored by {@link EXPIRY_OFFSET} + `expires_at` (the expiry index). The offset puts every
 * expiry mark above every send time, so one key serves both orders, an entry is added or removed with
 * one command, and the live count is half the cardinality. Message ids are decimal and never start
 * with `e:`. Frames hash fields: `<id>` → the ready-to-send `msg` frame, or `@<digest>` naming a frame
 * stored once (`GatewayKeys.frame(id, digest)`) for the many inboxes one insert wrote it to;
 * `o:<id>` → offered to a connection at least once (the device may have it).
 */

/** 2^50 ms: above any send time, and offset + any expiry stays an exact integer in a double. */
export const EXPIRY_OFFSET = 1_125_899_906_842_624;

/** KEYS[1] inbox, KEYS[2] frames; ARGV[1] now. Defines `expired` (ids purged) and `drop(id)`. */
const PURGE = `
local now = tonumber(ARGV[1])
local LO = '${EXPIRY_OFFSET}'
local HI = string.format('%.0f', ${EXPIRY_OFFSET} + now)
local expired = {}
local marks = redis.call('ZRANGEBYSCORE', KEYS[1], LO, HI)
if #marks > 0 then
  for _, mk in ipairs(marks) do
    local e = string.sub(mk, 3)
    expired[#expired + 1] = e
    redis.call('ZREM', KEYS[1], e)
    redis.call('HDEL', KEYS[2], e, 'o:' .. e)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], LO, HI)
end
local function drop(id)
  redis.call('ZREM', KEYS[1], id, 'e:' .. id)
  redis.call('HDEL', KEYS[2], id, 'o:' .. id)
end
`;

/**
 * One message into the inboxes of many devices in one call (a broadcast costs one script call per
 * page of devices, not one per device), and the rings of their nodes. KEYS: four per device (inbox,
 * frames, acked, presence), all with the device's `{rid}` hash tag; on a Redis Cluster the caller
 * groups devices by slot, so one call's keys always share a slot.
 * ARGV: now, id, sent_at, expiry mark score (offset + expires_at), frame, max, override_id ('' for
 * none), node channel prefix, ring ('1' to ring the nodes holding the devices, '0' not to),
 * keys_expire_at, shared ref (`@<digest>` when the frame is stored once already, so an inbox keeps
 * that reference instead; '' to keep the frame in each inbox; a frame carrying `replaces` differs per
 * device and is always kept whole), then one rid per device.
 *
 * Per device, like a single insert: idempotent per id (an id in the inbox or acknowledged is a
 * `dup`), expired entries purged (and reported; a new inbox has none), `override_id` replaced, the
 * oldest dropped beyond `max`. About seven Redis commands per device.
 * Rings: a device whose new entry carries the same frame as everyone's is listed in one `m` publish
 * per node that carries the frame itself, so the node sends it without reading the inbox (and the
 * entry is marked offered now); anything else online (a dup, an entry with `replaces`) gets an `r`
 * ring and is fetched. Returns { codes, extras }: codes per device 0 dup, 1 ok, 2 ok replacing an
 * unseen entry, 3 ok carrying `replaces`; extras flat [device index (1-based), 'f' (inbox_full) or
 * 'e' (expired), message id, …].
 */
export const INSERT_MANY_LUA = `
local now = tonumber(ARGV[1])
local id = ARGV[2]
local frame = ARGV[5]
local max = tonumber(ARGV[6])
local override = ARGV[7]
local ring = ARGV[9] == '1'
local keysAt = tonumber(ARGV[10])
local stored = ARGV[11] ~= '' and ARGV[11] or frame
local LO = '${EXPIRY_OFFSET}'
local HI = string.format('%.0f', ${EXPIRY_OFFSET} + now)
local mark = 'e:' .. id
local codes = {}
local extras = {}
local push = {}
local fetch = {}
local function add(t, node, rid)
  local l = t[node]
  if l then l[#l + 1] = rid else t[node] = {rid} end
end
for i = 1, #KEYS / 4 do
  local b = (i - 1) * 4
  local inbox, frames, acked = KEYS[b + 1], KEYS[b + 2], KEYS[b + 3]
  local function drop(e)
    redis.call('ZREM', inbox, e, 'e:' .. e)
    redis.call('HDEL', frames, e, 'o:' .. e)
  end
  local node = nil
  if ring then
    local holder = redis.call('GET', KEYS[b + 4])
    if holder then node = string.match(holder, '^(.*)|') end
  end
  local code = 0
  -- An id in the inbox (even expired: the same id always has the same expiry, and the caller never
  -- inserts an expired entry) or acknowledged is a duplicate.
  if not redis.call('ZSCORE', acked, id)
    and redis.call('ZADD', inbox, 'NX', ARGV[3], id, ARGV[4], mark) > 0 then
    local card = redis.call('ZCARD', inbox)
    -- Alone in its inbox: the keys are new (nothing to purge, no cap, no deadline yet).
    local fresh = card == 2
    if not fresh then
      local marks = redis.call('ZRANGEBYSCORE', inbox, LO, HI)
      if #marks > 0 then
        for _, mk in ipairs(marks) do
          local e = string.sub(mk, 3)
          redis.call('ZREM', inbox, e)
          redis.call('HDEL', frames, e, 'o:' .. e)
          extras[#extras + 1] = i
          extras[#extras + 1] = 'e'
          extras[#extras + 1] = e
        end
        redis.call('ZREMRANGEBYSCORE', inbox, LO, HI)
        card = card - 2 * #marks
      end
    end
    local f = stored
    local replaced = 0
    if override ~= '' and override ~= id then
      if redis.call('HEXISTS', frames, override) == 1 then
        replaced = 1
        if redis.call('HEXISTS', frames, 'o:' .. override) == 1 then replaced = 2 end
        drop(override)
        card = card - 2
      elseif redis.call('ZSCORE', acked, override) then
        replaced = 2
      end
      if replaced == 2 then
        f = string.sub(frame, 1, -2) .. ',"replaces":' .. cjson.encode(override) .. '}'
      end
    end
    local direct = node ~= nil and replaced ~= 2
    if direct then
      redis.call('HSET', frames, id, f, 'o:' .. id, '1')
    else
      redis.call('HSET', frames, id, f)
    end
    local over = card / 2 - max
    if over > 0 then
      for _, o in ipairs(redis.call('ZRANGEBYSCORE', inbox, '-inf', '(' .. LO, 'LIMIT', 0, over)) do
        drop(o)
        if o == id then direct = false end
        extras[#extras + 1] = i
        extras[#extras + 1] = 'f'
        extras[#extras + 1] = o
      end
    end
    -- The keys live as long as their longest-lived entry (rounded up by the caller, so most inserts
    -- find the deadline already far enough), and an abandoned device's inbox disappears. Both keys
    -- always get the same deadline, so the inbox's TTL speaks for the frames too.
    local ttl = fresh and -1 or redis.call('PTTL', inbox)
    if ttl < 0 or now + ttl < keysAt then
      redis.call('PEXPIREAT', inbox, keysAt)
      redis.call('PEXPIREAT', frames, keysAt)
    end
    code = 1 + replaced
    if node then
      if direct then add(push, node, ARGV[11 + i]) else add(fetch, node, ARGV[11 + i]) end
    end
  elseif node then
    -- A duplicate rings too: the first write may have come from a worker that died before its ring,
    -- and the node skips what it already has in flight.
    add(fetch, node, ARGV[11 + i])
  end
  codes[i] = code
end
for node, rids in pairs(push) do
  redis.call('PUBLISH', ARGV[8] .. node, 'm\\n' .. id .. '\\n' .. frame .. '\\n' .. table.concat(rids, '\\n'))
end
for node, rids in pairs(fetch) do
  redis.call('PUBLISH', ARGV[8] .. node, 'r\\n' .. table.concat(rids, '\\n'))
end
return {codes, extras}
`;

/**
 * KEYS: inbox, frames. ARGV: now, count. Returns { flat [id, frame, id, frame, …] oldest first,
 * expired ids } and marks the returned entries as offered.
 */
export const FETCH_LUA = `${PURGE}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. LO, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
if #ids > 0 then
  local frames = redis.call('HMGET', KEYS[2], unpack(ids))
  local offered = {}
  for i, id in ipairs(ids) do
    if frames[i] then
      out[#out + 1] = id
      out[#out + 1] = frames[i]
      offered[#offered + 1] = 'o:' .. id
      offered[#offered + 1] = '1'
    end
  end
  if #offered > 0 then redis.call('HSET', KEYS[2], unpack(offered)) end
end
return {out, expired}
`;

/**
 * Acknowledgements of many devices in one call. KEYS: three per device (inbox, frames, acked).
 * ARGV: now, acked_ttl_ms, then per device: the number of ids, how many of them come first as sent
 * (the caller's node sent them to this device: in flight on its connection), the ids. An id is the
 * device's when it is sent, in the inbox, or acknowledged already; only those leave the inbox and are
 * remembered (the newest 256 per device) so they are never stored again, since any other id (a guess,
 * another device's message) must not count as delivered, nor block a later insert. Returns per device
 * the ids that are the device's among those not given as sent (usually none: a device acks what its
 * connection has in flight). Per id, about three Redis commands (a fourth for one not in the inbox and
 * not sent). No purge here: an expired entry is left to the next insert, fetch or recall.
 */
export const ACK_MANY_LUA = `
local now = ARGV[1]
local ttl = ARGV[2]
local a = 3
local out = {}
for i = 1, #KEYS / 3 do
  local b = (i - 1) * 3
  local inbox, frames, acked = KEYS[b + 1], KEYS[b + 2], KEYS[b + 3]
  local n = tonumber(ARGV[a])
  local sentTo = a + 1 + tonumber(ARGV[a + 1])
  local known = {}
  for j = a + 2, a + 1 + n do
    local id = ARGV[j]
    local removed = redis.call('ZREM', inbox, id, 'e:' .. id) > 0
    if removed then redis.call('HDEL', frames, id, 'o:' .. id) end
    local sent = j <= sentTo
    if removed or sent or redis.call('ZSCORE', acked, id) then
      redis.call('ZADD', acked, now, id)
      if not sent then known[#known + 1] = id end
    end
  end
  a = a + 2 + n
  redis.call('ZREMRANGEBYRANK', acked, 0, -257)
  redis.call('PEXPIRE', acked, ttl)
  out[i] = known
end
return out
`;

/**
 * KEYS: inbox, frames, acked, recalls. ARGV: now, id, recall_ttl_ms. Returns 'removed' (never
 * offered), 'had' (the device may have it: a recall frame is queued in the recalls set) or 'none'.
 */
export const RECALL_LUA = `${PURGE}
local id = ARGV[2]
local had = false
local result = 'none'
if redis.call('HEXISTS', KEYS[2], id) == 1 then
  had = redis.call('HEXISTS', KEYS[2], 'o:' .. id) == 1
  drop(id)
  result = 'removed'
elseif redis.call('ZSCORE', KEYS[3], id) then
  had = true
end
if had then
  redis.call('SADD', KEYS[4], id)
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
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

/**
 * KEYS: the presence keys of many devices (one slot on a cluster). ARGV: ttl_ms. Extends each claim
 * (one that another connection took since is extended too, as a plain `PEXPIRE` would: that node kicks
 * this connection). Returns the 1-based positions of the keys that are gone (the claim lapsed, or the
 * connection just closed: the caller decides). Checking the holder first (a `GET` per key) measured
 * ~1.5× the Redis time of this, for a case the kick already covers.
 */
export const REFRESH_MANY_LUA = `
local ttl = ARGV[1]
local gone = {}
for i = 1, #KEYS do
  if redis.call('PEXPIRE', KEYS[i], ttl) == 0 then gone[#gone + 1] = i end
end
return gone
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
