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
      if t > cur then meta.seen[name] = t else meta.seen[name] = cur end
    end
  end
end

-- 1. Idempotency: a txn_id seen before changes nothing.
local fresh = 0
local seen_ts = redis.call('ZSCORE', KEYS[1], txn_id)
local member = txn_id .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|' .. ARGV[7]
local baseline_field = 'k' .. ARGV[8]
local base = redis.call('HGET', KEYS[3], baseline_field)
local bn, bmean, bm2 = 0, 0, 0
if base then
  local a, b, c = string.match(base, '^(%S+) (%S+) (%S+)$$')
  bn, bmean, bm2 = tonumber(a), tonumber(b), tonumber(c)
end
local prev_newest = tonumber(redis.call('HGET', KEYS[3], 'nw')) or -1
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
  local pruned = tonumber(redis.call('HGET', KEYS[3], 'pd')) or -1
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

-- 4. Add the trimmed history: day buckets, summaries and sightings.
local aggf = redis.call('HGETALL', KEYS[3])
local trimmed_salary = nil
for j = 1, #aggf, 2 do
  local name = aggf[j]
  local day = string.match(name, '^b(%d+)$$')
  if day then
    local start = tonumber(day) * DAY
    if start > ts - W[6] and start <= ts then
      local b = parse_bucket(aggf[j + 1])
      for k, v in pairs(b) do
        local first = string.sub(k, 1, 1)
        if k == 'mx' then
          if v[2] > max_in then max_in = v[2] end
        elseif k == 'xi' or k == 'xo' then
          local cslot = (k == 'xi') and 1 or 3
          if start > ts - CASHW[3] then
            cash[3][cslot] = cash[3][cslot] + v[1]
            cash[3][cslot + 1] = cash[3][cslot + 1] + v[2]
          end
        else
          local slot = (first == 'd') and 1 or 3
          local ca = cagg[CHIDX[string.sub(k, 2, 2)]]
          for i = 5, 6 do
            if start > ts - W[i] then
              agg[i][slot] = agg[i][slot] + v[1]
              agg[i][slot + 1] = agg[i][slot + 1] + v[2]
              ca[i - 2][slot] = ca[i - 2][slot] + v[1]
              ca[i - 2][slot + 1] = ca[i - 2][slot + 1] + v[2]
            end
          end
        end
      end
    end
  elseif name == 'sal' then
    trimmed_salary = aggf[j + 1]
  elseif prev_ts < 0 and name == 'lt' then
    prev_ts = tonumber(aggf[j + 1])
  elseif name == 'lc' .. my_ch then
    if prev_ch_ts < 0 then prev_ch_ts = tonumber(aggf[j + 1]) end
  elseif name == 'geo' then
    if geo_ts < 0 then
      local g, la, lo = string.match(aggf[j + 1], '^(%d+),([^,]*),(.*)$$')
      geo_ts, geo_lat, geo_lon = tonumber(g), la, lo
    end
  end
end
-- 'lt' may come before the log's own previous event was found: the log wins.
local seenf = redis.call('HGETALL', KEYS[4])
local TYPES = {m = 1, d = 2, c = 3, p = 4}
for j = 1, #seenf, 2 do
  local t = tonumber(seenf[j + 1])
  if t > ts - W[6] then
    local name = seenf[j]
    seen_before[name] = true
    local k = TYPES[string.sub(name, 1, 1)]
    if k then d30[k][string.sub(name, 2)] = true end
  end
end

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

local tail = split('x|x|x|x|x|' .. ARGV[7])
local function new_flag(prefix, value)
  if value == '' then return 0 end
  if seen_before[prefix .. value] then return 0 end
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
out[#out + 1] = count(d24[1])
out[#out + 1] = count(d30[1])
out[#out + 1] = count(d24[2])
out[#out + 1] = count(d30[2])
out[#out + 1] = count(d24[3])
out[#out + 1] = count(d30[3])
out[#out + 1] = count(d24[4])
out[#out + 1] = count(d30[4])
out[#out + 1] = count(d24[5])
out[#out + 1] = count(d24[6])
out[#out + 1] = prev_ts
out[#out + 1] = prev_ch_ts
out[#out + 1] = new_flag('d', tail[7])
out[#out + 1] = new_flag('p', tail[9])
out[#out + 1] = new_flag('c', tail[8])
out[#out + 1] = new_flag('k', tail[10])
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
