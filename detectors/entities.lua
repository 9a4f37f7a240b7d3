-- Record a batch's events at the terminals, merchants, devices and counterparty
-- accounts they touch, in order, and return each one's entity counts as of its
-- event time. Entities are shared by customers of every shard, so unlike the
-- customers' blobs (one writer each, folded in Python) they are updated here,
-- atomically. detectors/state.py documents the windows.
--
-- ARGV, per event: ts (assessed event time, ms), fresh (1 records it, 0 only
--       reads), customer_id, number of entities n
-- KEYS, per event, n pairs: the entity's ring-bucket blob, its customers zset
-- Returns, per event and entity: counts 1h/24h/7d, customers 1h/24h/7d.
--
-- The ring is one MessagePack blob {nw, r}: slot name -> bucket * RING_M +
-- count. A bucket no window can reach any more (older than the entity's newest
-- event - lateness - window) is dropped when the blob is written, and ignored
-- when read before that, so a blob decoded once per batch reads exactly as if
-- it had been written back after every event. It is packed in sorted slot
-- order, so the state a set of events leaves does not depend on the order
-- workers deliver them in.

local DAY = 86400000
local LATENESS = $lateness
local ENT_TTL = 7 * DAY + LATENESS + DAY
local RING_M = 100000000
local ENTITY_W = {
  {3600000, 300000, 'm', 12 + math.ceil(LATENESS / 300000) + 2},
  {DAY, 3600000, 'h', 24 + math.ceil(LATENESS / 3600000) + 2},
  {7 * DAY, DAY, 'd', 7 + math.ceil(LATENESS / DAY) + 2},
}
local RING_OF = {m = ENTITY_W[1], h = ENTITY_W[2], d = ENTITY_W[3]}
-- Slot names, made once rather than per bucket read: SLOT[i][s + 1] = letter .. s.
local SLOT = {}
for i, w in ipairs(ENTITY_W) do
  SLOT[i] = {}
  for s = 0, w[4] - 1 do SLOT[i][s + 1] = w[3] .. s end
end
local function reachable_after(nw, w)
  return math.floor((nw - LATENESS - w[1]) / w[2])
end

local blobs, changed = {}, {}
local out = {}
local k, a = 1, 1
while a <= #ARGV do
  local ts, fresh, cid, n = tonumber(ARGV[a]), ARGV[a + 1] == '1', ARGV[a + 2], tonumber(ARGV[a + 3])
  a = a + 4
  for _ = 1, n do
    local ekey, ckey = KEYS[k], KEYS[k + 1]
    k = k + 2
    local E = blobs[ekey]
    if not E then
      local raw = redis.call('GET', ekey)
      E = raw and cmsgpack.unpack(raw) or {nw = -1, r = {}}
      blobs[ekey] = E
    end
    local counts, own = {0, 0, 0}, {}
    for i, w in ipairs(ENTITY_W) do
      local last = math.floor(ts / w[2])
      local first = math.max(math.floor((ts - w[1]) / w[2]), reachable_after(E.nw, w)) + 1
      local names, size, r = SLOT[i], w[4], E.r
      own[i] = last
      for b = first, last do
        local v = r[names[b % size + 1]]
        if v and math.floor(v / RING_M) == b then
          counts[i] = counts[i] + v % RING_M
        end
      end
    end
    if fresh then
      if ts > E.nw then E.nw = ts end
      for i, w in ipairs(ENTITY_W) do
        local b = own[i]
        if b > reachable_after(E.nw, w) then
          local name = SLOT[i][b % w[4] + 1]
          local v = E.r[name]
          local at = v and math.floor(v / RING_M) or -1
          if at == b then
            E.r[name] = v + 1
            counts[i] = counts[i] + 1
          elseif at < b then
            E.r[name] = b * RING_M + 1
            counts[i] = counts[i] + 1
          end  -- else the slot holds a newer bucket: this one is too old to keep
        end
      end
      changed[ekey] = ckey
      redis.call('ZADD', ckey, 'GT', ts, cid)
    end
    for i = 1, 3 do out[#out + 1] = counts[i] end
    -- Customers whose latest event is older than the entity's newest - lateness
    -- - 7 d are removed when the batch ends; until then they are not counted.
    local cut = E.nw - LATENESS - 7 * DAY
    for _, w in ipairs(ENTITY_W) do
      local lo = ts - w[1]
      if lo < cut then
        out[#out + 1] = redis.call('ZCOUNT', ckey, cut, '+inf')
      else
        out[#out + 1] = redis.call('ZCOUNT', ckey, '(' .. lo, '+inf')
      end
    end
  end
end

for ekey, ckey in pairs(changed) do
  local E = blobs[ekey]
  redis.call('ZREMRANGEBYSCORE', ckey, '-inf', '(' .. (E.nw - LATENESS - 7 * DAY))
  redis.call('PEXPIRE', ckey, ENT_TTL)
  local names = {}
  for name, v in pairs(E.r) do
    if math.floor(v / RING_M) > reachable_after(E.nw, RING_OF[string.sub(name, 1, 1)]) then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  local ring = {}
  for _, name in ipairs(names) do ring[name] = E.r[name] end
  redis.call('SET', ekey, cmsgpack.pack({nw = E.nw, r = ring}), 'PX', ENT_TTL)
end
return out
