-- Record a batch's events at the terminals, merchants, devices and counterparty
-- accounts they touch, in arrival order, and return each one's entity counts as
-- of its event time. Entities are shared by customers of every shard, so unlike
-- the customers' blobs (one writer each, folded in Python) they are updated
-- here, atomically. detectors/state.py documents the windows.
--
-- KEYS: per distinct entity of the batch, its own key then its customers'
--       zset (the zset exists only while the entity keeps more than INLINE
--       customers); then the batch's bucket hashes; then the nc customer
--       keys to write; then the batch's guard key
-- ARGV: the number of entities ne, the number of customer blobs nc, their
--       TTL (ms); per entity its bucket's number (1-based among the bucket
--       KEYS; 0: it has none) and its field name there; then the events,
--       packed in one string (below); then the nc customer blobs; then the
--       call's number in its batch (negative for the batch's last call)
-- Returns one string: per event and entity, counts 1h/24h/7d, customers
-- 1h/24h/7d, each a little-endian I4.
--
-- The events, one after another, each read by one struct.unpack of EVENT
-- (little-endian): ts i8 (assessed event time, ms), fresh B (1 records it,
-- 0 only reads), number of entities n B, the customer id as its length H
-- and its bytes, then four entity numbers I4 (the first n are the event's,
-- 1-based in KEYS order; the rest 0). detectors/entity_batch.pyx packs them,
-- and reads the reply: packed strings cost Redis, the script and the worker
-- far less than an argument or a reply integer per number.
--
-- The customers' blobs (folded in Python, detectors/state.py) are written
-- here too, so that a batch's customers and entities change in one call
-- that nothing else interleaves with: a crash between two calls would
-- leave events recorded at their customer but not at their entities, or
-- counted twice when replayed. Redis does not undo a script that fails
-- midway, so the blobs are written last, after every read.
--
-- An entity's state is one blob, read once per batch and written once if a
-- fresh event touched it. A blob of at most VALUE_MAX bytes (the server's
-- hash-max-listpack-value, read at start-up) is a field of its bucket, a
-- hash shared by the entities whose ids hash to it: Redis keeps a hash that
-- small as one listpack, without the ~70 bytes of per-key overhead a key of
-- its own costs. A bigger blob (an entity with many customers) is its own
-- key, since one long value would turn the whole bucket into a hash table.
-- Where a blob lives depends only on its size, so on the events it holds.
-- The field "" of a bucket holds the newest event (ms) recorded at any of its
-- entities, B: Redis cannot expire a field, so a field whose entity's newest
-- event is before floor(B / DAY) * DAY - HOLD is deleted, swept from the
-- bucket when B enters a new day; an own key or a field older than that is
-- read as empty (and deleted if written). The blob is packed with Redis's
-- struct library (several times faster than cmsgpack here), little-endian:
--
--   nw I6, n1 n2 n3 B, width B, k B,
--   (distance B, count I<width>) * (n1 + n2 + n3), (customer id s, age I4) * k
--
-- nw is the entity's newest recorded event (ms). Ring i (5-minute, hour and
-- day buckets) holds n_i buckets, oldest first, each as its distance back
-- from the bucket holding nw and its count (width bytes: 1, 2 or 4, as the
-- largest count needs). Then, sorted by id, the k customers whose latest event
-- there is at or after nw - LATENESS - 7 d, with that event's distance back
-- from nw in ms. k = 0 means they are in the zset (customer -> latest ms)
-- instead: past INLINE customers, a scan of the blob per event costs more than
-- a ZCOUNT. (A blob that lists its customers keeps at least the customer of
-- its newest event.) Customer ids are printable ASCII (riskwatch.parsing), so
-- a zero byte ends one.
--
-- A bucket no window can reach any more (older than nw - LATENESS - window)
-- is dropped when the blob is written and ignored when read before that, so a
-- blob decoded once per batch reads exactly as if it were written back after
-- every event. Buckets and customers are kept in sorted order, and whether the
-- zset is used depends only on how many customers are kept, so the state a set
-- of events leaves does not depend on the order workers deliver them in.
--
-- In memory an entity is four arrays unpacked from its blob (each ring's
-- distance, count pairs; the customers' id, age pairs), edited in place: a
-- new bucket is most often the newest, appended at its ring's end; distances
-- and ages stay relative to nw0, the nw the blob was read with (negative for
-- what is newer), and are rebased when it is written. Building Lua tables and
-- shifting their elements is what costs here, so the script does little of it.
-- In a blob of width 1 (nearly all: the counts fit in a byte) the rings are
-- plain bytes, read by string.byte and written by string.char, which cost a
-- fraction of struct's per-value work; struct reads and writes the rest.

-- Globals as locals (and redis.call as call): a global is looked up by name
-- at each use.
local KEYS, ARGV, struct, unpack, pcall, tonumber = KEYS, ARGV, struct, unpack, pcall, tonumber
local call = redis.call
local DAY = 86400000
local LATENESS = $lateness
local INLINE = $inline
-- As text: redis.call formats a number argument with snprintf each time.
local ENT_TTL = tostring(7 * DAY + LATENESS + DAY)
local KEEP = LATENESS + 7 * DAY
local HOLD = KEEP + DAY
local VALUE_MAX = $value_max
local W = {3600000, DAY, 7 * DAY}
local SIZE = {300000, 3600000, DAY}
local HEAD = '<I6BBBBB'
local byte, char, format = string.byte, string.char, string.format

-- struct formats by shape, made once per call.
local ring_formats, customer_formats = {}, {}
local function ring_format(n, width)
  local key = n * 8 + width
  local f = ring_formats[key]
  if not f then
    f = '<' .. string.rep('BI' .. width, n)
    ring_formats[key] = f
  end
  return f
end
local function customer_format(k)
  local f = customer_formats[k]
  if not f then
    f = '<' .. string.rep('sI4', k)
    customer_formats[k] = f
  end
  return f
end

-- An array of the values struct.unpack returns, and the position after them.
local function unpack_array(fmt, raw, pos)
  local t = {struct.unpack(fmt, raw, pos)}
  local after = t[#t]
  t[#t] = nil
  return t, after
end

-- An entity in memory: one array (a table costs more to make than the work
-- on it, more still with named fields): its rings 1 to 3, then at these
-- indexes nw0, nw, whether its customers are in the zset, whether a fresh
-- event changed it and its bucket's number; then from C0 + 1 to its end its
-- customers (those the blob keeps) as id, age pairs.
local NW0, NW, IN_ZSET, CHANGED, BUCKET, C0 = 4, 5, 6, 7, 8, 8

-- An entity as read from its blob (raw; nil: none), with its bucket's number.
local function decode(raw, b)
  if not raw then
    return {{}, {}, {}, -1, -1, false, false, b}
  end
  local nw, n1, n2, n3, width, k = struct.unpack(HEAD, raw)
  local r1, r2, r3, pos
  if width == 1 then
    -- Counts of one byte: a ring is its bytes, which string.byte reads
    -- without a struct format.
    local p2 = 12 + 2 * n1
    local p3 = p2 + 2 * n2
    pos = p3 + 2 * n3
    if pos > #raw + 1 then error('data string too short') end
    r1, r2, r3 = {byte(raw, 12, p2 - 1)}, {byte(raw, p2, p3 - 1)}, {byte(raw, p3, pos - 1)}
  else
    r1, pos = unpack_array(ring_format(n1, width), raw, 12)
    r2, pos = unpack_array(ring_format(n2, width), raw, pos)
    r3, pos = unpack_array(ring_format(n3, width), raw, pos)
  end
  if k == 0 then return {r1, r2, r3, nw, nw, true, false, b} end
  local E = {r1, r2, r3, nw, nw, false, false, b, struct.unpack(customer_format(k), raw, pos)}
  E[C0 + 2 * k + 1] = nil  -- the position after them
  return E
end

-- Move the customers between the blob and the zset so that the zset is used
-- exactly when more than INLINE are kept; E holds them as id, age (from nw).
local function settle(E, zkey)
  local nw = E[NW]
  if E[IN_ZSET] then
    call('ZREMRANGEBYSCORE', zkey, '-inf', '(' .. (nw - KEEP))
    if call('ZCARD', zkey) > INLINE then
      call('PEXPIRE', zkey, ENT_TTL)
      return
    end
    local flat = call('ZRANGE', zkey, 0, -1, 'WITHSCORES')
    local ids, latest = {}, {}
    for q = 1, #flat, 2 do
      ids[#ids + 1] = flat[q]
      latest[flat[q]] = tonumber(flat[q + 1])
    end
    table.sort(ids)
    for _, id in ipairs(ids) do
      E[#E + 1] = id
      E[#E + 1] = nw - latest[id]
    end
    call('DEL', zkey)
    E[IN_ZSET] = false
  elseif #E - C0 > 2 * INLINE then
    local args = {}
    for q = C0 + 1, #E, 2 do
      args[#args + 1] = nw - E[q + 1]
      args[#args + 1] = E[q]
    end
    call('DEL', zkey)
    call('ZADD', zkey, unpack(args))
    call('PEXPIRE', zkey, ENT_TTL)
    for q = #E, C0 + 1, -1 do E[q] = nil end
    E[IN_ZSET] = true
  end
end

-- Ring i's buckets that stay, rebased to nw in place: the index of the
-- first. A bucket stays while it is after nw - LATENESS - W: its distance
-- back from top0 is below limit. Distances fall along a ring, so those that
-- go are at its start.
local function rebase(r, i, nw0, nw)
  local size, reach = SIZE[i], nw - LATENESS - W[i]
  -- floor(x / size) as (x - x % size) / size, as the events do.
  local top0 = (nw0 - nw0 % size) / size
  local limit = top0 - (reach - reach % size) / size
  local n = #r
  local first = 1
  while first < n and r[first] >= limit do first = first + 2 end
  local shift = (nw - nw % size) / size - top0
  if shift ~= 0 then
    for q = first, n - 1, 2 do r[q] = r[q] + shift end
  end
  return first
end

-- The bytes of a blob after nw up to its customers, if every value fits in
-- one byte (width 1): string.char refuses any other.
local function byte_rings(k, r1, f1, r2, f2, r3, f3)
  return char((#r1 - f1 + 1) / 2, (#r2 - f2 + 1) / 2, (#r3 - f3 + 1) / 2, 1, k, unpack(r1, f1)),
    char(unpack(r2, f2)), char(unpack(r3, f3))
end

-- The blob of an entity this batch changed: what survives, rebased to nw.
local function encode(E, zkey)
  local nw0, nw = E[NW0], E[NW]
  local r1, r2, r3 = E[1], E[2], E[3]
  local f1, f2, f3 = rebase(r1, 1, nw0, nw), rebase(r2, 2, nw0, nw), rebase(r3, 3, nw0, nw)
  if not E[IN_ZSET] then
    local age, pruned = nw - nw0, false
    if age == 0 then
      -- Only a customer this batch added can be too old.
      for q = C0 + 2, #E, 2 do
        if E[q] > KEEP then
          pruned = true
          break
        end
      end
    else
      for q = C0 + 2, #E, 2 do
        local t = E[q] + age
        E[q] = t
        if t > KEEP then pruned = true end
      end
    end
    if pruned then
      -- The kept ones moved up over the others, in order; then the rest cleared.
      local n, to = #E, C0 + 1
      for q = C0 + 1, n, 2 do
        if E[q + 1] <= KEEP then
          E[to], E[to + 1] = E[q], E[q + 1]
          to = to + 2
        end
      end
      for q = n, to, -1 do E[q] = nil end
    end
  end
  if E[IN_ZSET] or #E - C0 > 2 * INLINE then settle(E, zkey) end
  local k = (#E - C0) / 2
  local customers = k > 0 and struct.pack(customer_format(k), unpack(E, C0 + 1)) or ''
  local ok, b1, b2, b3 = pcall(byte_rings, k, r1, f1, r2, f2, r3, f3)
  if ok then return struct.pack('<I6', nw) .. b1 .. b2 .. b3 .. customers end
  local largest = 0
  for q = f1 + 1, #r1, 2 do if r1[q] > largest then largest = r1[q] end end
  for q = f2 + 1, #r2, 2 do if r2[q] > largest then largest = r2[q] end end
  for q = f3 + 1, #r3, 2 do if r3[q] > largest then largest = r3[q] end end
  local width = largest < 256 and 1 or largest < 65536 and 2 or 4
  local n1, n2, n3 = (#r1 - f1 + 1) / 2, (#r2 - f2 + 1) / 2, (#r3 - f3 + 1) / 2
  return struct.pack(HEAD, nw, n1, n2, n3, width, k) ..
    struct.pack(ring_format(n1, width), unpack(r1, f1)) ..
    struct.pack(ring_format(n2, width), unpack(r2, f2)) ..
    struct.pack(ring_format(n3, width), unpack(r3, f3)) .. customers
end

local ne, nc, customer_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
-- The batch's guard (the last key and argument): this call's number among
-- the batch's calls, negative for its last. A call runs only if the one
-- before it did (the guard holds its number), so that a failed call stops
-- the calls already sent after it (detectors/script_trips.py says why).
local guard, seq = KEYS[#KEYS], tonumber(ARGV[#ARGV])
local nkeys, nargs = #KEYS - 1, #ARGV - 1
if math.abs(seq) > 1 and tonumber(call('GET', guard)) ~= math.abs(seq) - 1 then
  return redis.error_reply('SKIPPED an earlier call of this batch did not complete')
end
local first_arg = 4 + 2 * ne
local nb = nkeys - 2 * ne - nc

-- The oldest newest-event an entity of a bucket may keep (see the header).
local function cutoff(B)
  if B < 0 then return -1 end
  return B - B % DAY - HOLD  -- floor(B / DAY) * DAY
end

-- Each bucket's B and fields in one HMGET, and each entity's place in its
-- bucket's reply (one array for all entities). A bucket's first field is kept
-- apart (first), the others in an array (more) made only for a bucket with
-- several entities: a table costs more than the rest of an entity's HMGET.
local first, more, bucket_of, place = {}, {}, {}, {}
for e = 1, ne do
  -- The bucket's number, decimal digits: read by string.byte, which costs
  -- less than tonumber's strtod.
  local digits, b = ARGV[2 * e + 2], 0
  for q = 1, #digits do b = b * 10 + byte(digits, q) - 48 end
  bucket_of[e] = b
  if b > 0 then
    local name = ARGV[2 * e + 3]
    if not first[b] then
      first[b], place[e] = name, 2
    else
      local m = more[b]
      if m then
        m[#m + 1] = name
      else
        m = {name}
        more[b] = m
      end
      place[e] = #m + 2
    end
  end
end
local in_field, newest, newest0, replies = {}, {}, {}, {}
for b = 1, nb do
  -- (The batch numbers a bucket only for an entity it holds: first[b] is set.)
  local got
  if more[b] then
    got = call('HMGET', KEYS[2 * ne + b], '', first[b], unpack(more[b]))
  else
    got = call('HMGET', KEYS[2 * ne + b], '', first[b])
  end
  local B = tonumber(got[1]) or -1
  newest0[b], newest[b], replies[b] = B, B, got
end

local entities, in_own = {}, {}
for from = 1, ne, 500 do
  local upto = math.min(from + 499, ne)
  local names = {}
  for e = from, upto do names[#names + 1] = KEYS[2 * e - 1] end
  local raws = call('MGET', unpack(names))
  for e = from, upto do
    local own, b = raws[e - from + 1], bucket_of[e]
    in_own[e] = own
    if b > 0 then in_field[e] = replies[b][place[e]] end
    local E = decode(in_field[e] or own, b)
    if b > 0 and E[NW0] >= 0 and E[NW0] < cutoff(newest0[b]) then
      -- Expired: what it kept is read as nothing.
      if E[IN_ZSET] then call('DEL', KEYS[2 * e]) end
      E = decode(nil, b)
    end
    entities[e] = E
  end
end

local EVENT = '<i8BBHc0I4I4I4I4'
local out = {}
local o = 0
local events, at, slots = ARGV[first_arg], 1, {}
nargs = nargs - nc
while at <= #events do
  local ts, fresh, n, cid
  ts, fresh, n, cid, slots[1], slots[2], slots[3], slots[4], at = struct.unpack(EVENT, events, at)
  fresh = fresh == 1
  for x = 1, n do
    local e = slots[x]
    local E = entities[e]
    local nw0, nw = E[NW0], E[NW]
    -- now: nw once this event is recorded.
    local now = nw
    if fresh then
      if ts > nw then
        now = ts
        E[NW] = ts
      end
      local b = E[BUCKET]
      if b > 0 and ts > newest[b] then newest[b] = ts end
      E[CHANGED] = true
    end
    -- Per ring, the count before this event, then the event recorded (one loop:
    -- the two share their bucket numbers). Events in buckets (first, last]: not
    -- before the window, nor unreachable from nw (as read before this event).
    -- By distance back from nw0: from top0 - last up to (not) top0 - first;
    -- rings end with the newest.
    for i = 1, 3 do
      -- floor(x / size) as (x - x % size) / size: exact, and cheaper than a
      -- call of math.floor. Every window is a whole number of buckets.
      local r, size, w = E[i], SIZE[i], W[i]
      local last, reach = (ts - ts % size) / size, nw - LATENESS - w
      local first = last - w / size
      reach = (reach - reach % size) / size
      if reach > first then first = reach end
      local top0 = (nw0 - nw0 % size) / size
      local lo, hi = top0 - last, top0 - first
      local c = 0
      for q = #r - 1, 1, -2 do
        local off = r[q]
        if off >= lo then
          if off >= hi then break end
          c = c + r[q + 1]
        end
      end
      if fresh then
        -- Recorded in its bucket, at distance lo, if reachable from now.
        reach = now - LATENESS - w
        if last > (reach - reach % size) / size then
          local q = #r - 1
          while q > 0 and r[q] < lo do q = q - 2 end
          if q > 0 and r[q] == lo then
            r[q + 1] = r[q + 1] + 1
          elseif q == #r - 1 then
            r[q + 2] = lo
            r[q + 3] = 1
          else
            -- Shifted two places at once (two table.inserts shift twice).
            for j = #r, q + 2, -1 do r[j + 2] = r[j] end
            r[q + 2], r[q + 3] = lo, 1
          end
          c = c + 1
        end
      end
      out[o + i] = c
    end
    nw = now
    -- Customers whose latest event is older than nw - KEEP are dropped when
    -- the batch ends; until then they are not counted.
    local cut = nw - KEEP - 1
    local t1, t2, t3 = ts - W[1], ts - W[2], ts - W[3]
    if t1 < cut then t1 = cut end
    if t2 < cut then t2 = cut end
    if t3 < cut then t3 = cut end
    if E[IN_ZSET] then
      local zkey = KEYS[2 * e]
      if fresh then call('ZADD', zkey, 'GT', ts, cid) end
      out[o + 4] = call('ZCOUNT', zkey, '(' .. t1, '+inf')
      out[o + 5] = call('ZCOUNT', zkey, '(' .. t2, '+inf')
      out[o + 6] = call('ZCOUNT', zkey, '(' .. t3, '+inf')
    else
      if fresh then
        -- Find the customer, or where it sorts, and record ts there.
        local q, stop = C0 + 1, #E
        while q < stop and E[q] < cid do q = q + 2 end
        if q < stop and E[q] == cid then
          if nw0 - E[q + 1] < ts then E[q + 1] = nw0 - ts end
        elseif q > stop then
          E[q] = cid
          E[q + 1] = nw0 - ts
        else
          for j = stop, q, -1 do E[j + 2] = E[j] end
          E[q], E[q + 1] = cid, nw0 - ts
        end
      end
      -- A customer's latest event nw0 - age is after t when its age is
      -- below nw0 - t.
      local c1, c2, c3 = 0, 0, 0
      t1, t2, t3 = nw0 - t1, nw0 - t2, nw0 - t3
      for q = C0 + 2, #E, 2 do
        local age = E[q]
        if age < t3 then
          c3 = c3 + 1
          if age < t2 then
            c2 = c2 + 1
            if age < t1 then c1 = c1 + 1 end
          end
        end
      end
      out[o + 4], out[o + 5], out[o + 6] = c1, c2, c3
    end
    o = o + 6
  end
end

local written = {}
for e = 1, ne do
  local E = entities[e]
  if E[CHANGED] then
    local own_key, b = KEYS[2 * e - 1], E[BUCKET]
    local blob = encode(E, KEYS[2 * e])
    if b > 0 then
      local bucket = KEYS[2 * ne + b]
      written[b] = true
      if E[NW] < cutoff(newest[b]) then
        -- Recorded already expired (an event far behind its bucket's newest).
        if in_field[e] then call('HDEL', bucket, ARGV[2 * e + 3]) end
        if in_own[e] then call('DEL', own_key) end
      elseif #blob <= VALUE_MAX then
        call('HSET', bucket, ARGV[2 * e + 3], blob)
        if in_own[e] then call('DEL', own_key) end
      else
        call('SET', own_key, blob, 'PX', ENT_TTL)
        if in_field[e] then call('HDEL', bucket, ARGV[2 * e + 3]) end
      end
    else
      call('SET', own_key, blob, 'PX', ENT_TTL)
    end
  end
end
for b = 1, nb do
  local B = newest[b]
  if written[b] or B > newest0[b] then
    local bucket = KEYS[2 * ne + b]
    if B > newest0[b] then
      -- As text: redis.call formats a number with snprintf's %.17g, several
      -- times slower than %d, which writes the same digits for a whole number
      -- of ms (below 1e17: %.17g writes no exponent).
      call('HSET', bucket, '', format('%d', B))
      local B0 = newest0[b]
      if B0 >= 0 and B - B % DAY > B0 - B0 % DAY then
        -- B entered a new day: sweep the fields that expired with it.
        local cut, flat, gone = cutoff(B), call('HGETALL', bucket), {}
        for q = 1, #flat, 2 do
          local name = flat[q]
          if name ~= '' and struct.unpack('<I6', flat[q + 1]) < cut then gone[#gone + 1] = name end
        end
        if #gone > 0 then call('HDEL', bucket, unpack(gone)) end
      end
    end
    call('PEXPIRE', bucket, ENT_TTL)
  end
end
-- The customers last: a script that fails is not undone, and most failures
-- (a key of the wrong type, a blob that does not decode) come while reading.
for j = 1, nc do
  call('SET', KEYS[nkeys - nc + j], ARGV[nargs + j], 'PX', customer_ttl)
end
if seq > 0 then
  call('SET', guard, seq, 'PX', 600000)
elseif seq < -1 then
  call('DEL', guard)
end
-- The counts packed (see the header), ten event-entities per struct.pack.
local packed, CHUNK = {}, 60
local chunk = '<' .. string.rep('I4', CHUNK)
for from = 1, o, CHUNK do
  local upto = from + CHUNK - 1
  if upto > o then
    upto = o
    chunk = '<' .. string.rep('I4', o - from + 1)
  end
  packed[#packed + 1] = struct.pack(chunk, unpack(out, from, upto))
end
return table.concat(packed)
