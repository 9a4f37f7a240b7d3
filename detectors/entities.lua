-- Record a batch's events at the terminals, merchants, devices and counterparty
-- accounts they touch, in arrival order, and return each one's entity counts as
-- of its event time. Entities are shared by customers of every shard, so unlike
-- the customers' blobs (one writer each, folded in Python) they are updated
-- here, atomically. detectors/state.py documents the windows.
--
-- KEYS: per distinct entity of the batch, its blob then its customers' zset
--       (the zset exists only while the entity keeps more than INLINE customers)
-- ARGV, per event: ts (assessed event time, ms), fresh (1 records it, 0 only
--       reads), customer_id, number of entities n, then n entity numbers
--       (1-based, in KEYS order)
-- Returns, per event and entity: counts 1h/24h/7d, customers 1h/24h/7d.
--
-- Each entity is one key, read once per batch (one MGET for all) and written
-- once if a fresh event touched it. Its blob is packed with Redis's struct
-- library (several times faster than cmsgpack here), little-endian:
--
--   nw I6, n1 n2 n3 B, width B, k B,
--   n1 + n2 + n3 bucket distances B, as many counts I<width>,
--   k * (id length H, customer id, age I4)
--
-- nw is the entity's newest recorded event (ms). Ring i (5-minute, hour and
-- day buckets) holds n_i buckets, newest first, each as its distance back
-- from the bucket holding nw; their counts follow, each `width` bytes (1, 2
-- or 4: as many as the largest needs). Then, sorted by id, the k customers
-- whose latest event there is at or after nw - LATENESS - 7 d, with that
-- event's distance back from nw in ms. k = 0 means they are in the zset
-- (customer -> latest ms) instead: past INLINE customers, a scan of the blob
-- per event costs more than a ZCOUNT. (A blob that lists its customers always
-- keeps at least the customer of its newest event.)
--
-- A bucket no window can reach any more (older than nw - LATENESS - window)
-- is dropped when the blob is written and ignored when read before that, so a
-- blob decoded once per batch reads exactly as if it were written back after
-- every event. Buckets and customers are packed in sorted order, and whether
-- the zset is used depends only on how many customers are kept, so the state
-- a set of events leaves does not depend on the order workers deliver them in.

local DAY = 86400000
local LATENESS = $lateness
local INLINE = $inline
local ENT_TTL = 7 * DAY + LATENESS + DAY
local KEEP = LATENESS + 7 * DAY
local W = {3600000, DAY, 7 * DAY}
local SIZE = {300000, 3600000, DAY}
local HEAD = '<I6BBBBB'
local floor = math.floor

-- An entity in memory: v, the blob's unpacked body, is read in place (bucket
-- distances at s[i] .. s[i] + n[i] - 1, their counts m further on, customers
-- from c0 as id, age pairs), all relative to nw0, the nw it was read with.
-- Counts and ages of what v holds are updated in place; a bucket or customer
-- it lacks goes to x[i] (bucket -> count) or xc (id -> latest ms).
local function decode(raw)
  if not raw then
    return {nw0 = -1, nw = -1, v = {}, n = {0, 0, 0}, s = {1, 1, 1}, m = 0, c0 = 1, k = 0,
            z = false, x = {}}
  end
  local nw, n1, n2, n3, width, k, pos = struct.unpack(HEAD, raw)
  local m = n1 + n2 + n3
  local fmt = '<' .. string.rep('B', m) .. string.rep('I' .. width, m) .. string.rep('Hc0I4', k)
  return {nw0 = nw, nw = nw, v = {struct.unpack(fmt, raw, pos)}, n = {n1, n2, n3},
          s = {1, 1 + n1, 1 + n1 + n2}, m = m, c0 = 2 * m + 1, k = k, z = k == 0, x = {}}
end

-- The customers kept (latest at or after nw - KEEP), as sorted ids and their
-- latest ms; nil when more than INLINE are (then they are in the zset).
local function kept_customers(E, zkey)
  local cut = E.nw - KEEP
  local ids, latest = {}, {}
  if E.z then
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', '(' .. cut)
    if redis.call('ZCARD', zkey) > INLINE then return nil end
    local flat = redis.call('ZRANGE', zkey, 0, -1, 'WITHSCORES')
    for j = 1, #flat, 2 do
      ids[#ids + 1] = flat[j]
      latest[flat[j]] = tonumber(flat[j + 1])
    end
    redis.call('DEL', zkey)
    table.sort(ids)
    return ids, latest
  end
  local v, nw0, sorted = E.v, E.nw0, true
  for j = E.c0, E.c0 + 2 * E.k - 1, 2 do
    local t = nw0 - v[j + 1]
    if t >= cut then
      ids[#ids + 1] = v[j]
      latest[v[j]] = t
    else
      sorted = false
    end
  end
  if E.xc then
    for id, t in pairs(E.xc) do
      if t >= cut then
        ids[#ids + 1] = id
        latest[id] = t
        sorted = false
      end
    end
  end
  if #ids > INLINE then
    redis.call('DEL', zkey)
    local args = {}
    for _, id in ipairs(ids) do
      args[#args + 1] = latest[id]
      args[#args + 1] = id
    end
    redis.call('ZADD', zkey, unpack(args))
    return nil
  end
  if not sorted then table.sort(ids) end
  return ids, latest
end

local function descending(p, q) return p > q end

-- The blob of an entity this batch changed, its customers settled between
-- the blob and the zset.
local function encode(E, zkey)
  local v, nw0, nw, m = E.v, E.nw0, E.nw, E.m
  local offs, counts, per_ring, largest = {}, {}, {}, 0
  for i = 1, 3 do
    local size = SIZE[i]
    local top0, top = floor(nw0 / size), floor(nw / size)
    local after = floor((nw - LATENESS - W[i]) / size)
    local before = #offs
    -- The batch's new buckets, newest first, merged with v's (newest first).
    local side, si = {}, 1
    if E.x[i] then
      for b in pairs(E.x[i]) do
        if b > after then side[#side + 1] = b end
      end
      table.sort(side, descending)
    end
    local s = E.s[i]
    for j = s, s + E.n[i] - 1 do
      local b = top0 - v[j]
      while side[si] and side[si] > b do
        local c = E.x[i][side[si]]
        offs[#offs + 1], counts[#counts + 1] = top - side[si], c
        if c > largest then largest = c end
        si = si + 1
      end
      if b <= after then break end
      local c = v[m + j]
      offs[#offs + 1], counts[#counts + 1] = top - b, c
      if c > largest then largest = c end
    end
    while side[si] do
      local c = E.x[i][side[si]]
      offs[#offs + 1], counts[#counts + 1] = top - side[si], c
      if c > largest then largest = c end
      si = si + 1
    end
    per_ring[i] = #offs - before
  end
  local width = largest < 256 and 1 or largest < 65536 and 2 or 4
  local ids, latest = kept_customers(E, zkey)
  local k = ids and #ids or 0
  local args = {nw, per_ring[1], per_ring[2], per_ring[3], width, k}
  for j = 1, #offs do args[#args + 1] = offs[j] end
  for j = 1, #counts do args[#args + 1] = counts[j] end
  if ids then
    for _, id in ipairs(ids) do
      args[#args + 1] = #id
      args[#args + 1] = id
      args[#args + 1] = nw - latest[id]
    end
  else
    redis.call('PEXPIRE', zkey, ENT_TTL)
  end
  local fmt = HEAD .. string.rep('B', #offs) .. string.rep('I' .. width, #offs) ..
    string.rep('Hc0I4', k)
  return struct.pack(fmt, unpack(args))
end

local entities = {}
do
  local n = #KEYS / 2
  for from = 1, n, 500 do
    local upto = math.min(from + 499, n)
    local names = {}
    for e = from, upto do names[#names + 1] = KEYS[2 * e - 1] end
    local raws = redis.call('MGET', unpack(names))
    for e = from, upto do entities[e] = decode(raws[e - from + 1]) end
  end
end

local out = {}
local o = 0
local a = 1
while a <= #ARGV do
  local ts, fresh, cid, n = tonumber(ARGV[a]), ARGV[a + 1] == '1', ARGV[a + 2], tonumber(ARGV[a + 3])
  for x = a + 4, a + 3 + n do
    local e = tonumber(ARGV[x])
    local E = entities[e]
    local v, nw0, nw, m = E.v, E.nw0, E.nw, E.m
    -- Events in buckets (first, last]: not before the window, nor unreachable
    -- from nw (as read before this event). v's buckets are newest first, so
    -- by distance back from nw0: from top0 - last up to (not) top0 - first.
    for i = 1, 3 do
      local size, w = SIZE[i], W[i]
      local top0, last = floor(nw0 / size), floor(ts / size)
      local first = floor((ts - w) / size)
      local after = floor((nw - LATENESS - w) / size)
      if after > first then first = after end
      local lo, hi = top0 - last, top0 - first
      local s, c = E.s[i], 0
      for j = s, s + E.n[i] - 1 do
        local off = v[j]
        if off >= lo then
          if off >= hi then break end
          c = c + v[m + j]
        end
      end
      local side = E.x[i]
      if side then
        for b, bc in pairs(side) do
          if b > first and b <= last then c = c + bc end
        end
      end
      out[o + i] = c
    end
    if fresh then
      if ts > nw then
        nw = ts
        E.nw = ts
      end
      for i = 1, 3 do
        local size = SIZE[i]
        local b = floor(ts / size)
        if b > floor((nw - LATENESS - W[i]) / size) then
          local off = floor(nw0 / size) - b
          local s = E.s[i]
          local j, stop = s, s + E.n[i] - 1
          while j <= stop and v[j] < off do j = j + 1 end
          if j <= stop and v[j] == off then
            v[m + j] = v[m + j] + 1
          else
            local side = E.x[i]
            if not side then
              side = {}
              E.x[i] = side
            end
            side[b] = (side[b] or 0) + 1
          end
          out[o + i] = out[o + i] + 1
        end
      end
      E.changed = true
    end
    -- Customers whose latest event is older than nw - KEEP are dropped when
    -- the batch ends; until then they are not counted.
    local cut = nw - KEEP - 1
    local t1, t2, t3 = ts - W[1], ts - W[2], ts - W[3]
    if t1 < cut then t1 = cut end
    if t2 < cut then t2 = cut end
    if t3 < cut then t3 = cut end
    if E.z then
      local zkey = KEYS[2 * e]
      if fresh then redis.call('ZADD', zkey, 'GT', ts, cid) end
      out[o + 4] = redis.call('ZCOUNT', zkey, '(' .. t1, '+inf')
      out[o + 5] = redis.call('ZCOUNT', zkey, '(' .. t2, '+inf')
      out[o + 6] = redis.call('ZCOUNT', zkey, '(' .. t3, '+inf')
    else
      local c1, c2, c3 = 0, 0, 0
      local missing = fresh
      for j = E.c0, E.c0 + 2 * E.k - 1, 2 do
        local t = nw0 - v[j + 1]
        if missing and v[j] == cid then
          missing = false
          if ts > t then
            t = ts
            v[j + 1] = nw0 - ts
          end
        end
        if t > t3 then
          c3 = c3 + 1
          if t > t2 then
            c2 = c2 + 1
            if t > t1 then c1 = c1 + 1 end
          end
        end
      end
      local xc = E.xc
      if missing then
        if not xc then
          xc = {}
          E.xc = xc
        end
        if not xc[cid] or ts > xc[cid] then xc[cid] = ts end
      end
      if xc then
        for _, t in pairs(xc) do
          if t > t3 then
            c3 = c3 + 1
            if t > t2 then
              c2 = c2 + 1
              if t > t1 then c1 = c1 + 1 end
            end
          end
        end
      end
      out[o + 4], out[o + 5], out[o + 6] = c1, c2, c3
    end
    o = o + 6
  end
  a = a + 4 + n
end

for e, E in ipairs(entities) do
  if E.changed then
    redis.call('SET', KEYS[2 * e - 1], encode(E, KEYS[2 * e]), 'PX', ENT_TTL)
  end
end
return out
