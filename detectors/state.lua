-- Record one transaction in its customer's state (and the state of the
-- terminal, merchant, device and counterparty it touches) and return the
-- aggregates its features are built from, as of the transaction's event time.
-- detectors/state.py documents the layout, the windows and what is exact.
--
-- KEYS[1]       the customer's state: one MessagePack blob (below)
-- KEYS[2..]     per entity present (ARGV[10] lists them): its ring-bucket blob
--               and its customers zset
-- ARGV: txn_id, ts, dir (d|c), channel code, kind code (x cash deposit,
--       w cash withdrawal, s salary credit, o other), amount_minor, packed tail
--       (merchant|device|country|counterparty|mcc|lat|lon), baseline kind,
--       customer_id, entity types present (one letter each, in KEYS order)
--
-- The blob, read and written whole (one GET, one SET: a Redis call costs more
-- than unpacking a few hundred bytes in C):
--   nw   newest event ms              pd   day of the last prune
--   ids  txn_id -> ms of folded events within the dedup horizon (the log
--        holds its own events' ids)
--   ev   the exact log (48 h + lateness):
--        {ms, txn_id, dir, ch, kind, amount, merchant, device, country,
--         counterparty, mcc, lat, lon}, '' where absent
--   b    UTC day -> {dir..ch | xi | xo -> {count, sum}, mx -> largest credit}
--        for events folded out of the log
--   seen '<type><value>' -> ms of its latest folded sighting (m merchant,
--        d device, c country, p counterparty, k mcc)
--   lt   latest folded event ms       lc   channel -> latest folded ms
--   geo  {ms, lat, lon} latest folded card-present position
--   sal  the six latest folded salary credits (ms)
--   k    kind -> {n, mean, M2} (Welford, in arrival order)

local DAY = 86400000
local W = {60000, 600000, 3600000, DAY, 7 * DAY, 30 * DAY}
local CW = {3600000, DAY, 7 * DAY, 30 * DAY}
local CASHW = {DAY, 2 * DAY, 7 * DAY}
local CHIDX = {a = 1, p = 2, o = 3, m = 4, c = 5, t = 6}
local LATENESS = $lateness
local HORIZON = 2 * DAY + LATENESS
local RETAIN = 30 * DAY + LATENESS
local DEDUP = $dedup_horizon
local TTL = $ttl
local ENT_TTL = 7 * DAY + LATENESS + DAY

local txn_id = ARGV[1]
local ts = tonumber(ARGV[2])

local function split(text)
  local f = {}
  local i = 1
  for part in string.gmatch(text, '([^|]*)|?') do
    f[i] = part
    i = i + 1
    if i > 7 then break end
  end
  return f
end

local tail = split(ARGV[7])
local raw = redis.call('GET', KEYS[1])
local S
if raw then
  S = cmsgpack.unpack(raw)
else
  S = {nw = -1, pd = -1, ids = {}, ev = {}, b = {}, seen = {}, lt = -1, lc = {}, geo = {-1, '', ''},
       sal = {}, k = {}}
end

-- 1. Idempotency: a txn_id seen before changes nothing; one older than the
-- dedup horizon could be a forgotten duplicate and is not recorded.
local fresh, stale = 0, 0
local base = S.k[ARGV[8]] or {0, 0, 0}
local bn, bmean, bm2 = base[1], base[2], base[3]
local seen_ts = S.ids[txn_id]
if not seen_ts then
  for _, e in ipairs(S.ev) do
    if e[2] == txn_id then seen_ts = e[1] end
  end
end
if seen_ts then
  ts = seen_ts
elseif S.nw >= 0 and ts < S.nw - DEDUP then
  stale = 1
else
  fresh = 1
  local lat, lon = tail[6], tail[7]
  S.ev[#S.ev + 1] = {ts, txn_id, ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tail[1], tail[2],
                     tail[3], tail[4], tail[5], lat ~= '' and tonumber(lat) or '',
                     lon ~= '' and tonumber(lon) or ''}
  local amount = tonumber(ARGV[6])
  local n1 = bn + 1
  local delta = amount - bmean
  local mean1 = bmean + delta / n1
  S.k[ARGV[8]] = {n1, mean1, bm2 + delta * (amount - mean1)}
  if ts > S.nw then S.nw = ts end
end
local newest = S.nw

local late = 0
if ts < newest - LATENESS then late = 1 end
if stale == 1 then late = 2 end

local function bump(b, k, amount)
  local v = b[k]
  if v then
    v[1] = v[1] + 1
    v[2] = v[2] + amount
  else
    b[k] = {1, amount}
  end
end

-- Fold one event leaving the exact log into its day bucket and the summaries.
local function fold(e)
  local t, dir, ch, kind, amount = e[1], e[3], e[4], e[5], e[6]
  S.ids[e[2]] = t
  local day = tostring(math.floor(t / DAY))
  local b = S.b[day]
  if not b then
    b = {}
    S.b[day] = b
  end
  bump(b, dir .. ch, amount)
  if kind == 'x' then bump(b, 'xi', amount) end
  if kind == 'w' then bump(b, 'xo', amount) end
  if dir == 'c' and amount > (b.mx or 0) then b.mx = amount end
  if t > S.lt then S.lt = t end
  if t > (S.lc[ch] or -1) then S.lc[ch] = t end
  if e[12] ~= '' and t > S.geo[1] then S.geo = {t, e[12], e[13]} end
  if kind == 's' then
    local sal = S.sal
    sal[#sal + 1] = t
    table.sort(sal)
    if #sal > 6 then table.remove(sal, 1) end
  end
  local items = {'m' .. e[7], 'd' .. e[8], 'c' .. e[9], 'p' .. e[10], 'k' .. e[11]}
  for i = 1, 5 do
    local name = items[i]
    if #name > 1 and t > (S.seen[name] or -1) then S.seen[name] = t end
  end
end

-- 2. Trim, prune and write back (fresh events only).
if fresh == 1 then
  local cutoff = newest - HORIZON
  local kept = {}
  for _, e in ipairs(S.ev) do
    if e[1] < cutoff then fold(e) else kept[#kept + 1] = e end
  end
  S.ev = kept
  local floor_dedup = newest - DEDUP
  for id, t in pairs(S.ids) do
    if t < floor_dedup then S.ids[id] = nil end
  end
  local today = math.floor(newest / DAY)
  if today > S.pd then
    -- Once per day of the newest event: drop buckets and sightings no window reaches.
    local floor_ts = newest - RETAIN
    for day in pairs(S.b) do
      if tonumber(day) * DAY <= floor_ts then S.b[day] = nil end
    end
    for name, t in pairs(S.seen) do
      if t <= floor_ts then S.seen[name] = nil end
    end
    S.pd = today
  end
  redis.call('SET', KEYS[1], cmsgpack.pack(S), 'PX', TTL)
end

-- 3. Aggregate the exact log up to the event's time.
local agg, cagg, cash = {}, {}, {}
for i = 1, 6 do agg[i] = {0, 0, 0, 0} end
for c = 1, 6 do cagg[c] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}} end
for i = 1, 3 do cash[i] = {0, 0, 0, 0} end
local max_in = 0
local d24 = {{}, {}, {}, {}, {}, {}}  -- merchants devices countries counterparties senders recipients
local d30 = {{}, {}, {}, {}}
local seen_before = {}  -- '<type><value>' seen in another event within 30 days
local prev_ts, prev_ch_ts, geo_ts, geo_lat, geo_lon, geo_id = -1, -1, -1, '', '', ''
local first_credit = nil
local debits24 = {}
local salaries = {}
local my_ch = ARGV[4]

-- Count one event (count, sum at rows[i][slot], [slot + 1]) in every window it is inside.
local function add_aged(rows, windows, slot, age, amount)
  for i = 1, #windows do
    if age < windows[i] then
      local row = rows[i]
      row[slot] = row[slot] + 1
      row[slot + 1] = row[slot + 1] + amount
    end
  end
end

for _, e in ipairs(S.ev) do
  local t = e[1]
  if t <= ts and t > ts - W[6] then
    local age = ts - t
    local dir, ch, kind, amount = e[3], e[4], e[5], e[6]
    local slot = (dir == 'd') and 1 or 3
    add_aged(agg, W, slot, age, amount)
    add_aged(cagg[CHIDX[ch]], CW, slot, age, amount)
    if kind == 'x' or kind == 'w' then
      add_aged(cash, CASHW, (kind == 'x') and 1 or 3, age, amount)
    end
    if dir == 'c' and amount > max_in then max_in = amount end
    for k = 1, 4 do
      local v = e[6 + k]
      if v ~= '' then
        d30[k][v] = true
        if age < DAY then d24[k][v] = true end
      end
    end
    if age < DAY then
      if e[10] ~= '' then
        if dir == 'c' then d24[5][e[10]] = true else d24[6][e[10]] = true end
      end
      if dir == 'c' then
        if first_credit == nil or t < first_credit then first_credit = t end
      else
        debits24[#debits24 + 1] = {t, amount}
      end
    end
    if kind == 's' then salaries[#salaries + 1] = t end
    if e[2] ~= txn_id then
      if t > prev_ts then prev_ts = t end
      if ch == my_ch and t > prev_ch_ts then prev_ch_ts = t end
      if e[12] ~= '' and (t > geo_ts or (t == geo_ts and e[2] .. '|' > geo_id)) then
        geo_ts, geo_lat, geo_lon, geo_id = t, e[12], e[13], e[2] .. '|'
      end
      seen_before['d' .. e[8]] = true
      seen_before['p' .. e[10]] = true
      seen_before['c' .. e[9]] = true
      seen_before['k' .. e[11]] = true
    end
  end
end

local passthrough = 0
if first_credit ~= nil then
  for _, d in ipairs(debits24) do
    if d[1] >= first_credit then passthrough = passthrough + d[2] end
  end
end

-- 4. Add the folded history: day buckets that start inside a window (the far
-- edge rounded in to a day), then the summaries, older than any logged event.
for day, b in pairs(S.b) do
  local start = tonumber(day) * DAY
  if start > ts - W[6] and start <= ts then
    local in7 = start > ts - W[5]
    for k, v in pairs(b) do
      if k == 'mx' then
        if v > max_in then max_in = v end
      elseif k == 'xi' or k == 'xo' then
        if in7 then
          local row, slot = cash[3], (k == 'xi') and 1 or 3
          row[slot] = row[slot] + v[1]
          row[slot + 1] = row[slot + 1] + v[2]
        end
      else
        local slot = (string.sub(k, 1, 1) == 'd') and 1 or 3
        local ca = cagg[CHIDX[string.sub(k, 2, 2)]]
        local rows = {agg[6], ca[4]}
        if in7 then rows = {agg[6], ca[4], agg[5], ca[3]} end
        for _, row in ipairs(rows) do
          row[slot] = row[slot] + v[1]
          row[slot + 1] = row[slot + 1] + v[2]
        end
      end
    end
  end
end
if prev_ts < 0 and S.lt >= 0 then prev_ts = S.lt end
if prev_ch_ts < 0 and S.lc[my_ch] then prev_ch_ts = S.lc[my_ch] end
if geo_ts < 0 and S.geo[1] >= 0 then geo_ts, geo_lat, geo_lon = S.geo[1], S.geo[2], S.geo[3] end
for _, s in ipairs(S.sal) do
  if s <= ts then salaries[#salaries + 1] = s end
end

-- Distinct values over 30 d: logged ones, plus folded ones whose latest
-- sighting's day starts inside the window. First seen: no other sighting in
-- the 30 days up to the event, logged or folded (exact).
local PREFIX = {m = 1, d = 2, c = 3, p = 4}
local month_day = math.floor(ts / DAY) - 29
for name, t in pairs(S.seen) do
  if t > ts - W[6] then seen_before[name] = true end
  local k = PREFIX[string.sub(name, 1, 1)]
  if k and math.floor(t / DAY) >= month_day then d30[k][string.sub(name, 2)] = true end
end

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

local function new_flag(prefix, value)
  if value == '' or seen_before[prefix .. value] then return 0 end
  return 1
end

local out = {fresh, newest, late, ts}
for i = 1, 6 do
  for k = 1, 4 do out[#out + 1] = agg[i][k] end
end
for c = 1, 6 do
  for i = 1, 4 do
    for k = 1, 4 do out[#out + 1] = cagg[c][i][k] end
  end
end
for i = 1, 3 do
  for k = 1, 4 do out[#out + 1] = cash[i][k] end
end
out[#out + 1] = passthrough
out[#out + 1] = max_in
for k = 1, 4 do
  out[#out + 1] = count(d24[k])
  out[#out + 1] = count(d30[k])
end
out[#out + 1] = count(d24[5])
out[#out + 1] = count(d24[6])
out[#out + 1] = prev_ts
out[#out + 1] = prev_ch_ts
out[#out + 1] = new_flag('d', tail[2])
out[#out + 1] = new_flag('p', tail[4])
out[#out + 1] = new_flag('c', tail[3])
out[#out + 1] = new_flag('k', tail[5])
out[#out + 1] = geo_ts
local function coordinate(v)
  if type(v) == 'number' then return string.format('%.17g', v) end
  return v
end
out[#out + 1] = coordinate(geo_lat)
out[#out + 1] = coordinate(geo_lon)
out[#out + 1] = bn
out[#out + 1] = string.format('%.17g', bmean)
out[#out + 1] = string.format('%.17g', bm2)

-- 5. Entities: counts in ring buffers of 5-minute/hour/day buckets, and their
-- customers' latest times. The ring is one MessagePack blob {nw, r}: slot name
-- -> bucket * RING_M + count. A bucket no window can reach any more (older than
-- the entity's newest event - lateness - window) is dropped, and the blob is
-- packed in sorted slot order, so the state a set of events leaves does not
-- depend on the order workers deliver them in.
local RING_M = 100000000
local ENTITY_W = {
  {3600000, 300000, 'm', 12 + math.ceil(LATENESS / 300000) + 2},
  {DAY, 3600000, 'h', 24 + math.ceil(LATENESS / 3600000) + 2},
  {7 * DAY, DAY, 'd', 7 + math.ceil(LATENESS / DAY) + 2},
}
local RING_OF = {m = ENTITY_W[1], h = ENTITY_W[2], d = ENTITY_W[3]}
local function reachable_after(nw, w)
  return math.floor((nw - LATENESS - w[1]) / w[2])
end
local types = ARGV[10]
for e = 1, #types do
  local ekey, ckey = KEYS[2 * e], KEYS[2 * e + 1]
  local raw = redis.call('GET', ekey)
  local E = raw and cmsgpack.unpack(raw) or {nw = -1, r = {}}
  local counts, own = {0, 0, 0}, {}
  for i, w in ipairs(ENTITY_W) do
    local last = math.floor(ts / w[2])
    own[i] = last
    for b = math.floor((ts - w[1]) / w[2]) + 1, last do
      local v = E.r[w[3] .. (b % w[4])]
      if v and math.floor(v / RING_M) == b then counts[i] = counts[i] + v % RING_M end
    end
  end
  if fresh == 1 then
    if ts > E.nw then E.nw = ts end
    for i, w in ipairs(ENTITY_W) do
      local b = own[i]
      if b > reachable_after(E.nw, w) then
        local name = w[3] .. (b % w[4])
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
    redis.call('ZADD', ckey, 'GT', ts, ARGV[9])
    redis.call('ZREMRANGEBYSCORE', ckey, '-inf', '(' .. (E.nw - LATENESS - 7 * DAY))
    redis.call('PEXPIRE', ckey, ENT_TTL)
  end
  for i = 1, 3 do out[#out + 1] = counts[i] end
  for _, w in ipairs(ENTITY_W) do
    out[#out + 1] = redis.call('ZCOUNT', ckey, '(' .. (ts - w[1]), '+inf')
  end
end

-- 6. Salary credits at or before the event (the six latest), for salary_regularity.
table.sort(salaries)
for i = math.max(1, #salaries - 5), #salaries do out[#out + 1] = salaries[i] end
return out
