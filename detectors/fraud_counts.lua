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

local prefix = ARGV[1]
local windows = {86400000, 604800000, 2592000000}
local out = {}
for i = 2, #ARGV, 3 do
  local ts = tonumber(ARGV[i])
  for slot = 1, 2 do
    local entity = ARGV[i + slot]
    if entity == '' then
      for _ = 1, 6 do table.insert(out, 0) end
    else
      local k = prefix .. (slot == 1 and 't:' or 'm:') .. entity
      for _, w in ipairs(windows) do
        table.insert(out, redis.call('ZCOUNT', k, '(' .. (ts - w), ts))
      end
      for _, w in ipairs(windows) do
        table.insert(out, redis.call('ZCOUNT', k .. ':n', '(' .. (ts - w), ts))
      end
    end
  end
end
return out
