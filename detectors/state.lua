-- Record one transaction in its customer's state (and the state of the
-- terminal, merchant, device and counterparty it touches) and return the
-- aggregates its features are built from, as of the transaction's event time.
-- detectors/state.py documents the layout, the windows and what is exact.
--
-- KEYS[1] ids   zset  txn_id -> ts            (duplicate detection)
-- KEYS[2] ev    zset  packed event -> ts      (the exact recent log)
-- KEYS[3] agg   hash  day buckets "b<day>" and meta fields (trimmed history)
-- KEYS[4] seen  hash  "<type><value>" -> ts of its latest trimmed sighting
-- KEYS[5..]     per entity present (ARGV[10] lists them): its bucket hash and
--               its customers zset
-- ARGV: txn_id, ts, dir (d|c), channel code, kind code (x cash deposit,
--       w cash withdrawal, s salary credit, o other), amount_minor, packed tail
--       (merchant|device|country|counterparty|mcc|lat|lon), baseline kind,
--       customer_id, entity types present (one letter each, in KEYS order)
--
-- Packed event member: txn_id|dir|channel|kind|amount|merchant|device|country|
-- counterparty|mcc|lat|lon (empty where absent; lat/lon only when card present).

local DAY = 86400000
local W = {60000, 600000, 3600000, DAY, 7 * DAY, 30 * DAY}
local CW = {3600000, DAY, 7 * DAY, 30 * DAY}
local CASHW = {DAY, 2 * DAY, 7 * DAY}
local CHANNELS = {'a', 'p', 'o', 'm', 'c', 't'}
local CHIDX = {a = 1, p = 2, o = 3, m = 4, c = 5, t = 6}
local LATENESS = $lateness
local HORIZON = 2 * DAY + LATENESS
local RETAIN = 30 * DAY + LATENESS
local DEDUP = $dedup_horizon
local TTL = $ttl
local ENT_TTL = 7 * DAY + LATENESS + DAY

local txn_id = ARGV[1]
local ts = tonumber(ARGV[2])

local function split(member)
  local f = {}
  local i = 1
  for part in string.gmatch(member, '([^|]*)|?') do
    f[i] = part
    i = i + 1
    if i > 12 then break end
  end
  return f
end

local function parse_bucket(text)
  local b = {}
  if text then
    for k, c, s in string.gmatch(text, '(%w+):(%d+):(%d+)') do
      b[k] = {tonumber(c), tonumber(s)}
    end
  end
  return b
end

local function render_bucket(b)
  local parts = {}
  for k, v in pairs(b) do
    parts[#parts + 1] = k .. ':' .. string.format('%d', v[1]) .. ':' .. string.format('%d', v[2])
  end
  table.sort(parts)
  return table.concat(parts, ',')
end

local function bump(b, k, amount)
  local v = b[k]
  if v then
    v[1] = v[1] + 1
    v[2] = v[2] + amount
  else
    b[k] = {1, amount}
  end
end

-- The trimmed history as seen from one UTC day D (every event of that day
-- counts the same buckets): 7 d and 30 d totals, per channel, cash-in/out 7 d,
-- largest credit 30 d, and per type (m, d, c, p) the values last trimmed-seen
-- on a day counted by 30 d. Kept in agg field 'cache' ("D|i=v,..."), updated as
-- events are folded, rebuilt when the day changes.
local NC = 65
local SEEN_SLOT = {m = 62, d = 63, c = 64, p = 65}

local function in_days(b, day, k)
  return b >= day - k + 1
end

local function cache_add(c, day, b, dir, ch, kind, amount)
  local slot = (dir == 'd') and 0 or 2
  local cbase = 9 + (CHIDX[ch] - 1) * 8
  if in_days(b, day, 7) then
    c[1 + slot] = c[1 + slot] + 1
    c[2 + slot] = c[2 + slot] + amount
    c[cbase + slot] = c[cbase + slot] + 1
    c[cbase + slot + 1] = c[cbase + slot + 1] + amount
    if kind == 'x' then c[57] = c[57] + 1; c[58] = c[58] + amount end
    if kind == 'w' then c[59] = c[59] + 1; c[60] = c[60] + amount end
  end
  if in_days(b, day, 30) then
    c[5 + slot] = c[5 + slot] + 1
    c[6 + slot] = c[6 + slot] + amount
    c[cbase + 4 + slot] = c[cbase + 4 + slot] + 1
    c[cbase + 5 + slot] = c[cbase + 5 + slot] + amount
    if dir == 'c' and amount > c[61] then c[61] = amount end
  end
end

local function build_cache(day)
  local c = {}
  for i = 1, NC do c[i] = 0 end
  local all = redis.call('HGETALL', KEYS[3])
  for j = 1, #all, 2 do
    local b = string.match(all[j], '^b(%d+)$$')
    if b then
      b = tonumber(b)
      if in_days(b, day, 30) then
        for k, n, sum in string.gmatch(all[j + 1], '(%w+):(%d+):(%d+)') do
          n, sum = tonumber(n), tonumber(sum)
          local first = string.sub(k, 1, 1)
          if k == 'mx' then
            if sum > c[61] then c[61] = sum end
          elseif first == 'x' then
            if in_days(b, day, 7) then
              local at = (k == 'xi') and 57 or 59
              c[at] = c[at] + n
              c[at + 1] = c[at + 1] + sum
            end
          else
            local slot = (first == 'd') and 0 or 2
            local cbase = 9 + (CHIDX[string.sub(k, 2, 2)] - 1) * 8
            if in_days(b, day, 7) then
              c[1 + slot] = c[1 + slot] + n
              c[2 + slot] = c[2 + slot] + sum
              c[cbase + slot] = c[cbase + slot] + n
              c[cbase + slot + 1] = c[cbase + slot + 1] + sum
            end
            c[5 + slot] = c[5 + slot] + n
            c[6 + slot] = c[6 + slot] + sum
            c[cbase + 4 + slot] = c[cbase + 4 + slot] + n
            c[cbase + 5 + slot] = c[cbase + 5 + slot] + sum
          end
        end
      end
    end
  end
  local seen = redis.call('HGETALL', KEYS[4])
  for j = 1, #seen, 2 do
    local at = SEEN_SLOT[string.sub(seen[j], 1, 1)]
    if at and in_days(math.floor(tonumber(seen[j + 1]) / DAY), day, 30) then
      c[at] = c[at] + 1
    end
  end
  return c
end

local function parse_cache(text)
  if not text then return nil, nil end
  local day, rest = string.match(text, '^(%d+)|(.*)$$')
  local c = {}
  for i = 1, NC do c[i] = 0 end
  for i, v in string.gmatch(rest, '(%d+)=(%d+)') do c[tonumber(i)] = tonumber(v) end
  return tonumber(day), c
end

local function render_cache(day, c)
  local parts = {}
  for i = 1, NC do
    if c[i] ~= 0 then parts[#parts + 1] = i .. '=' .. string.format('%d', c[i]) end
  end
  return string.format('%d', day) .. '|' .. table.concat(parts, ',')
end

-- Fold one event leaving the exact log into the day buckets and the summaries.
local function fold(member, t, meta)
  local f = split(member)
  local dir, ch, kind, amount = f[2], f[3], f[4], tonumber(f[5])
  local field = 'b' .. string.format('%d', math.floor(t / DAY))
  local b = meta.buckets[field]
  if not b then
    b = parse_bucket(redis.call('HGET', KEYS[3], field))
    meta.buckets[field] = b
  end
  bump(b, dir .. ch, amount)
  if meta.cache then
    cache_add(meta.cache, meta.cache_day, math.floor(t / DAY), dir, ch, kind, amount)
  end
  if kind == 'x' then bump(b, 'xi', amount) end
  if kind == 'w' then bump(b, 'xo', amount) end
  if dir == 'c' then
    local mx = b['mx']
    if not mx then b['mx'] = {0, amount} elseif amount > mx[2] then mx[2] = amount end
  end
  local function later(name)
    local cur = meta.fields[name]
    if cur == nil then cur = tonumber(redis.call('HGET', KEYS[3], name)) or -1 end
    if t > cur then meta.fields[name] = t end
  end
  later('lt')
  later('lc' .. ch)
  if f[11] ~= '' then
    local cur = meta.geo
    if cur == nil then
      local g = redis.call('HGET', KEYS[3], 'geo')
      cur = g and tonumber(string.match(g, '^(%d+)')) or -1
      meta.geo = cur
    end
    if t > cur then
      meta.geo = t
      meta.fields['geo'] = string.format('%d', t) .. ',' .. f[11] .. ',' .. f[12]
    end
  end
  if kind == 's' then
    meta.salary[#meta.salary + 1] = t
  end
  local items = {{'m', f[6]}, {'d', f[7]}, {'c', f[8]}, {'p', f[9]}, {'k', f[10]}}
  for _, it in ipairs(items) do
    if it[2] ~= '' then
      local name = it[1] .. it[2]
      local cur = meta.seen[name]
      if cur == nil then cur = tonumber(redis.call('HGET', KEYS[4], name)) or -1 end
      if t > cur then
        meta.seen[name] = t
        local at = SEEN_SLOT[it[1]]
        if meta.cache and at and in_days(math.floor(t / DAY), meta.cache_day, 30)
            and not (cur >= 0 and in_days(math.floor(cur / DAY), meta.cache_day, 30)) then
          meta.cache[at] = meta.cache[at] + 1
        end
      else
        meta.seen[name] = cur
      end
    end
  end
end

-- 1. Idempotency: a txn_id seen before changes nothing.
local fresh = 0
local seen_ts = redis.call('ZSCORE', KEYS[1], txn_id)
local member = txn_id .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|' .. ARGV[7]
local baseline_field = 'k' .. ARGV[8]
local head = redis.call('HMGET', KEYS[3], baseline_field, 'nw', 'pd')
local base = head[1]
local bn, bmean, bm2 = 0, 0, 0
if base then
  local a, b, c = string.match(base, '^(%S+) (%S+) (%S+)$$')
  bn, bmean, bm2 = tonumber(a), tonumber(b), tonumber(c)
end
local prev_newest = tonumber(head[2]) or -1
local newest = prev_newest

local stale = 0
if seen_ts then
  ts = tonumber(seen_ts)
elseif newest >= 0 and ts < newest - DEDUP then
  -- Too old to tell from a duplicate (its id would have been forgotten): not recorded.
  stale = 1
else
  fresh = 1
  redis.call('ZADD', KEYS[1], ts, txn_id)
  redis.call('ZADD', KEYS[2], ts, member)
  -- Welford's running mean and variance of the kind's amounts, in arrival order.
  local amount = tonumber(ARGV[6])
  local n1 = bn + 1
  local delta = amount - bmean
  local mean1 = bmean + delta / n1
  local m21 = bm2 + delta * (amount - mean1)
  redis.call('HSET', KEYS[3], baseline_field,
    string.format('%d %.17g %.17g', n1, mean1, m21))
  if ts > newest then
    newest = ts
    redis.call('HSET', KEYS[3], 'nw', string.format('%d', newest))
  end
end

local late = 0
if ts < newest - LATENESS then late = 1 end
if stale == 1 then late = 2 end

-- 2. Trim: events older than the exact horizon fold into day buckets and summaries.
if fresh == 1 then
  local cutoff = newest - HORIZON
  local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff, 'WITHSCORES')
  if #old > 0 then
    local meta = {buckets = {}, fields = {}, seen = {}, salary = {}}
    meta.cache_day, meta.cache = parse_cache(redis.call('HGET', KEYS[3], 'cache'))
    for j = 1, #old, 2 do
      fold(old[j], tonumber(old[j + 1]), meta)
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
    local hset = {}
    for field, b in pairs(meta.buckets) do
      hset[#hset + 1] = field
      hset[#hset + 1] = render_bucket(b)
    end
    for field, v in pairs(meta.fields) do
      hset[#hset + 1] = field
      hset[#hset + 1] = type(v) == 'number' and string.format('%d', v) or v
    end
    if meta.cache then
      hset[#hset + 1] = 'cache'
      hset[#hset + 1] = render_cache(meta.cache_day, meta.cache)
    end
    if #meta.salary > 0 then
      local sal = {}
      local stored = redis.call('HGET', KEYS[3], 'sal')
      if stored then
        for s in string.gmatch(stored, '%d+') do sal[#sal + 1] = tonumber(s) end
      end
      for _, s in ipairs(meta.salary) do sal[#sal + 1] = s end
      table.sort(sal)
      local keep = {}
      for i = math.max(1, #sal - 5), #sal do keep[#keep + 1] = string.format('%d', sal[i]) end
      hset[#hset + 1] = 'sal'
      hset[#hset + 1] = table.concat(keep, ',')
    end
    if #hset > 0 then redis.call('HSET', KEYS[3], unpack(hset)) end
    local sset = {}
    for name, t in pairs(meta.seen) do
      sset[#sset + 1] = name
      sset[#sset + 1] = string.format('%d', t)
    end
    if #sset > 0 then redis.call('HSET', KEYS[4], unpack(sset)) end
  end
  -- Once per day of the newest event: drop buckets and sightings no window can reach.
  local today = math.floor(newest / DAY)
  local pruned = tonumber(head[3]) or -1
  if today > pruned then
    local floor_ts = newest - RETAIN
    local drop = {}
    local fields = redis.call('HKEYS', KEYS[3])
    for _, f in ipairs(fields) do
      local day = string.match(f, '^b(%d+)$$')
      if day and tonumber(day) * DAY <= floor_ts then drop[#drop + 1] = f end
    end
    if #drop > 0 then redis.call('HDEL', KEYS[3], unpack(drop)) end
    local sdrop = {}
    local all = redis.call('HGETALL', KEYS[4])
    for j = 1, #all, 2 do
      if tonumber(all[j + 1]) <= floor_ts then sdrop[#sdrop + 1] = all[j] end
    end
    if #sdrop > 0 then redis.call('HDEL', KEYS[4], unpack(sdrop)) end
    redis.call('HSET', KEYS[3], 'pd', string.format('%d', today))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (newest - DEDUP))
  redis.call('PEXPIRE', KEYS[1], TTL)
  redis.call('PEXPIRE', KEYS[2], TTL)
  redis.call('PEXPIRE', KEYS[3], TTL)
  redis.call('PEXPIRE', KEYS[4], TTL)
end

-- 3. Aggregate the exact log up to the event's time.
local agg = {}
for i = 1, 6 do agg[i] = {0, 0, 0, 0} end
local cagg = {}
for c = 1, 6 do
  cagg[c] = {}
  for i = 1, 4 do cagg[c][i] = {0, 0, 0, 0} end
end
local cash = {}
for i = 1, 3 do cash[i] = {0, 0, 0, 0} end
local max_in = 0
local d24 = {{}, {}, {}, {}, {}, {}}  -- merchants devices countries counterparties senders recipients
local d30 = {{}, {}, {}, {}}
local seen_before = {}  -- "<type><value>" seen in another event within 30 days
local prev_ts, prev_ch_ts, geo_ts, geo_lat, geo_lon = -1, -1, -1, '', ''
local first_credit = nil
local debits24 = {}
local salaries = {}
local my_ch = ARGV[4]

local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. (ts - W[6]), ts, 'WITHSCORES')
for j = 1, #entries, 2 do
  local f = split(entries[j])
  local t = tonumber(entries[j + 1])
  local age = ts - t
  local dir, ch, kind, amount = f[2], f[3], f[4], tonumber(f[5])
  local slot = (dir == 'd') and 1 or 3
  for i = 1, 6 do
    if age < W[i] then
      agg[i][slot] = agg[i][slot] + 1
      agg[i][slot + 1] = agg[i][slot + 1] + amount
    end
  end
  local ca = cagg[CHIDX[ch]]
  for i = 1, 4 do
    if age < CW[i] then
      ca[i][slot] = ca[i][slot] + 1
      ca[i][slot + 1] = ca[i][slot + 1] + amount
    end
  end
  if kind == 'x' or kind == 'w' then
    local cslot = (kind == 'x') and 1 or 3
    for i = 1, 3 do
      if age < CASHW[i] then
        cash[i][cslot] = cash[i][cslot] + 1
        cash[i][cslot + 1] = cash[i][cslot + 1] + amount
      end
    end
  end
  if dir == 'c' and amount > max_in then max_in = amount end
  local values = {f[6], f[7], f[8], f[9]}
  for k = 1, 4 do
    if values[k] ~= '' then
      d30[k][values[k]] = true
      if age < DAY then d24[k][values[k]] = true end
    end
  end
  if age < DAY and f[9] ~= '' then
    if dir == 'c' then d24[5][f[9]] = true else d24[6][f[9]] = true end
  end
  if age < DAY then
    if dir == 'c' then
      if first_credit == nil or t < first_credit then first_credit = t end
    else
      debits24[#debits24 + 1] = {t, amount}
    end
  end
  if kind == 's' then salaries[#salaries + 1] = t end
  if f[1] ~= txn_id then
    if t > prev_ts then prev_ts = t end
    if ch == my_ch and t > prev_ch_ts then prev_ch_ts = t end
    if f[11] ~= '' and t >= geo_ts then geo_ts, geo_lat, geo_lon = t, f[11], f[12] end
    seen_before['d' .. f[7]] = true
    seen_before['p' .. f[9]] = true
    seen_before['c' .. f[8]] = true
    seen_before['k' .. f[10]] = true
  end
end

local passthrough = 0
if first_credit ~= nil then
  for _, d in ipairs(debits24) do
    if d[1] >= first_credit then passthrough = passthrough + d[2] end
  end
end

-- 4. Add the trimmed history: the day's cached totals and the summaries.
local meta2 = redis.call('HMGET', KEYS[3], 'cache', 'lt', 'lc' .. my_ch, 'geo', 'sal')
local today = math.floor(ts / DAY)
local cday, cache = parse_cache(meta2[1])
if cday ~= today then
  cache = build_cache(today)
  if fresh == 1 and today == math.floor(newest / DAY) then
    redis.call('HSET', KEYS[3], 'cache', render_cache(today, cache))
  end
end
for k = 1, 4 do
  agg[5][k] = agg[5][k] + cache[k]
  agg[6][k] = agg[6][k] + cache[4 + k]
  cash[3][k] = cash[3][k] + cache[56 + k]
end
for c = 1, 6 do
  local cbase = 9 + (c - 1) * 8
  for k = 1, 4 do
    cagg[c][3][k] = cagg[c][3][k] + cache[cbase + k - 1]
    cagg[c][4][k] = cagg[c][4][k] + cache[cbase + 3 + k]
  end
end
if cache[61] > max_in then max_in = cache[61] end
-- Trimmed events are older than any in the log: the log's previous event wins.
if prev_ts < 0 and meta2[2] then prev_ts = tonumber(meta2[2]) end
if prev_ch_ts < 0 and meta2[3] then prev_ch_ts = tonumber(meta2[3]) end
if geo_ts < 0 and meta2[4] then
  local g, la, lo = string.match(meta2[4], '^(%d+),([^,]*),(.*)$$')
  geo_ts, geo_lat, geo_lon = tonumber(g), la, lo
end
local trimmed_salary = meta2[5]

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

-- Distinct values over 30 d: the cached trimmed count, plus log values whose
-- latest trimmed sighting is not counted there. First-seen: no sighting
-- within 30 d, in the log (other events) or trimmed.
local tail = split('x|x|x|x|x|' .. ARGV[7])
local PREFIX = {'m', 'd', 'c', 'p'}
local ask = {}
for k = 1, 4 do
  for v in pairs(d30[k]) do ask[#ask + 1] = PREFIX[k] .. v end
end
local flag_fields = {'d' .. tail[7], 'p' .. tail[9], 'c' .. tail[8], 'k' .. tail[10]}
local flag_values = {tail[7], tail[9], tail[8], tail[10]}
local nlog = #ask
for _, f in ipairs(flag_fields) do ask[#ask + 1] = f end
local got = redis.call('HMGET', KEYS[4], unpack(ask))
local distinct30 = {cache[62], cache[63], cache[64], cache[65]}
local idx = 1
for k = 1, 4 do
  for _ in pairs(d30[k]) do
    local last = got[idx]
    if not (last and in_days(math.floor(tonumber(last) / DAY), today, 30)) then
      distinct30[k] = distinct30[k] + 1
    end
    idx = idx + 1
  end
end
local new_flags = {}
for i = 1, 4 do
  local flag = 0
  if flag_values[i] ~= '' and not seen_before[flag_fields[i]] then
    local last = got[nlog + i]
    if not (last and tonumber(last) > ts - W[6]) then flag = 1 end
  end
  new_flags[i] = flag
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
  out[#out + 1] = distinct30[k]
end
out[#out + 1] = count(d24[5])
out[#out + 1] = count(d24[6])
out[#out + 1] = prev_ts
out[#out + 1] = prev_ch_ts
for i = 1, 4 do out[#out + 1] = new_flags[i] end
out[#out + 1] = geo_ts
out[#out + 1] = geo_lat
out[#out + 1] = geo_lon
out[#out + 1] = bn
out[#out + 1] = string.format('%.17g', bmean)
out[#out + 1] = string.format('%.17g', bm2)

-- 5. Entities: counts in ring buffers of minute/hour/day buckets, and their
-- customers' latest times. A ring slot holds bucket * RING_M + count, and a
-- bucket too old for its slot is dropped: so the state a set of events leaves
-- does not depend on the order workers deliver them in.
local RING_M = 100000000
local ENTITY_W = {
  {3600000, 60000, 'm', 60 + math.ceil(LATENESS / 60000) + 2},
  {DAY, 3600000, 'h', 24 + math.ceil(LATENESS / 3600000) + 2},
  {7 * DAY, DAY, 'd', 7 + math.ceil(LATENESS / DAY) + 2},
}
local types = ARGV[10]
for e = 1, #types do
  local hkey, ckey = KEYS[3 + 2 * e], KEYS[4 + 2 * e]
  if fresh == 1 then
    for _, w in ipairs(ENTITY_W) do
      local bucket = math.floor(ts / w[2])
      local field = w[3] .. string.format('%d', bucket % w[4])
      local v = tonumber(redis.call('HGET', hkey, field))
      local held = v and math.floor(v / RING_M) or -1
      if held == bucket then
        redis.call('HINCRBY', hkey, field, 1)
      elseif held < bucket then
        redis.call('HSET', hkey, field, string.format('%d', bucket * RING_M + 1))
      end
    end
    redis.call('ZADD', ckey, 'GT', ts, ARGV[9])
    local enw = tonumber(redis.call('HGET', hkey, 'nw')) or -1
    if ts > enw then
      enw = ts
      redis.call('HSET', hkey, 'nw', string.format('%d', ts))
    end
    redis.call('ZREMRANGEBYSCORE', ckey, '-inf', '(' .. (enw - LATENESS - 7 * DAY))
    redis.call('PEXPIRE', hkey, ENT_TTL)
    redis.call('PEXPIRE', ckey, ENT_TTL)
  end
  for _, w in ipairs(ENTITY_W) do
    local last = math.floor(ts / w[2])
    local first = math.floor((ts - w[1]) / w[2]) + 1
    local fields = {}
    for b = first, last do fields[#fields + 1] = w[3] .. string.format('%d', b % w[4]) end
    local values = redis.call('HMGET', hkey, unpack(fields))
    local n = 0
    for k, v in ipairs(values) do
      if v then
        v = tonumber(v)
        if math.floor(v / RING_M) == first + k - 1 then n = n + v % RING_M end
      end
    end
    out[#out + 1] = n
  end
  for _, w in ipairs(ENTITY_W) do
    out[#out + 1] = redis.call('ZCOUNT', ckey, '(' .. (ts - w[1]), '+inf')
  end
end

-- 6. Salary credits at or before the event (the six latest), for salary_regularity.
if trimmed_salary then
  for s in string.gmatch(trimmed_salary, '%d+') do
    if tonumber(s) <= ts then salaries[#salaries + 1] = tonumber(s) end
  end
end
table.sort(salaries)
for i = math.max(1, #salaries - 5), #salaries do out[#out + 1] = salaries[i] end
return out
