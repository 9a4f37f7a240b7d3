-- Record one transaction in a customer's windowed state and return the
-- window aggregates as of the transaction's event time.
--
-- KEYS[1]  events zset: member "<txn_id>|<d|c>|<amount_minor>", score ts_ms
-- KEYS[2]  ids zset:    member txn_id, score ts_ms (duplicate detection)
-- ARGV[1]  txn_id
-- ARGV[2]  ts_ms
-- ARGV[3]  "d" (debit) or "c" (credit)
-- ARGV[4]  amount in minor units (integer)
--
-- The settings are written into the script when it is loaded (the dollar names
-- below), so each call sends only the event: fewer bytes to pack per event.
--
-- Returns {fresh, newest_ts, late, then per window: debit_count, debit_sum,
-- credit_count, credit_sum}. fresh is 1 for a new txn_id and 0 for a
-- duplicate, which changes nothing and is assessed as of its first sighting.
-- Windows are half-open (ts - w, ts], so events that arrive out of order
-- still count in the windows they belong to. Events are kept for the longest
-- window plus the allowed lateness, so windows are exact for any event no
-- later than that; an event later still is flagged late (its own windows
-- may miss events already trimmed).

local txn_id = ARGV[1]
local ts = tonumber(ARGV[2])
local fresh = 0
local seen = redis.call('ZSCORE', KEYS[2], txn_id)
if seen then
  ts = tonumber(seen)
else
  fresh = 1
  redis.call('ZADD', KEYS[2], ts, txn_id)
  redis.call('ZADD', KEYS[1], ts, txn_id .. '|' .. ARGV[3] .. '|' .. ARGV[4])
end

local windows = {$windows}
local n = #windows
local lateness = $lateness
local longest = windows[n]
local newest = tonumber(redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2])
local late = 0
if ts < newest - lateness then
  late = 1
end
if fresh == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (newest - longest - lateness))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (newest - $dedup_horizon))
  redis.call('PEXPIRE', KEYS[1], $ttl)
  redis.call('PEXPIRE', KEYS[2], $ttl)
end

local agg = {}
for i = 1, n do
  agg[i] = {0, 0, 0, 0}
end

local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (ts - windows[n]), ts, 'WITHSCORES')
for j = 1, #entries, 2 do
  local member = entries[j]
  local age = ts - tonumber(entries[j + 1])
  local sep1 = string.find(member, '|', 1, true)
  local dir = string.sub(member, sep1 + 1, sep1 + 1)
  local amount = tonumber(string.sub(member, sep1 + 3))
  local slot = (dir == 'd') and 1 or 3
  for i = 1, n do
    if age < windows[i] then
      agg[i][slot] = agg[i][slot] + 1
      agg[i][slot + 1] = agg[i][slot + 1] + amount
    end
  end
end

local out = {fresh, newest, late}
for i = 1, n do
  for k = 1, 4 do
    out[#out + 1] = agg[i][k]
  end
end
return out
