-- Count, for each transaction of a batch, the fraud labels that had arrived
-- by its event time on its terminal and its merchant, over 1, 7 and 30 days.
--
-- ARGV[1]  prefix of the entity fraud zsets ("<ns>:{ml}:fraud:")
-- then per transaction three values: ts_ms, terminal id, merchant id ("" when absent)
--
-- Returns per transaction twelve integers: for the terminal then the merchant,
-- frauds over 1d, 7d, 30d, then labelled transactions over 1d, 7d, 30d.
-- Windows are half-open in label time, (ts - w, ts]: a label whose ts is after
-- the transaction's is never counted, whatever order the streams were read in.
--
-- The windows nest, so a set is counted from the widest window in: when one
-- counts nothing, neither do the narrower ones, and they are not asked (most
-- entities have no fraud in 30 days, and a missing set counts nothing). The
-- window bounds are built once per transaction, for all four sets.

local prefix = ARGV[1]
local t_prefix, m_prefix = prefix .. 't:', prefix .. 'm:'
local zcount = 'ZCOUNT'
local out = {}
local n = 0

-- Counts of one set over 1d, 7d, 30d into out[base + 1 .. base + 3].
local function count(k, ts, d1, d7, d30, base)
  local c30 = redis.call(zcount, k, d30, ts)
  local c7, c1 = 0, 0
  if c30 > 0 then
    c7 = redis.call(zcount, k, d7, ts)
    if c7 > 0 then
      c1 = redis.call(zcount, k, d1, ts)
    end
  end
  out[base + 1], out[base + 2], out[base + 3] = c1, c7, c30
end

for i = 2, #ARGV, 3 do
  local ts = ARGV[i]
  local t = tonumber(ts)
  local d1, d7, d30 = '(' .. (t - 86400000), '(' .. (t - 604800000), '(' .. (t - 2592000000)
  for slot = 1, 2 do
    local entity = ARGV[i + slot]
    if entity == '' then
      for j = n + 1, n + 6 do out[j] = 0 end
    else
      local k = (slot == 1 and t_prefix or m_prefix) .. entity
      count(k, ts, d1, d7, d30, n)
      count(k .. ':n', ts, d1, d7, d30, n + 3)
    end
    n = n + 6
  end
end
return out
