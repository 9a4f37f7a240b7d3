-- Release a shard's held labels and matured transactions, in event time.
--
-- KEYS[1]  held labels zset: member "<verdict>\n<customer>|<txn_id>", score label ts_ms
-- KEYS[2]  scored hash:      field "<customer>|<txn_id>", value what the transaction
--                            was scored with: "<ts_ms>|<terminal>|<merchant>|<inputs JSON>"
-- KEYS[3]  due zset:         member "<customer>|<txn_id>", score txn ts_ms
-- ARGV[1]  release labels with ts <= this (ms)
-- ARGV[2]  transactions with ts <= this (ms) and no label become legitimate examples
-- ARGV[3]  prefix of the entity fraud zsets ("<ns>:{ml}:fraud:")
-- ARGV[4]  entity fraud entries older than this (ms) are trimmed
-- ARGV[5]  the horizon (ms)
--
-- A fraud label's transaction is removed from the due set (it will not also
-- become an implicit legitimate example) and its label ts is added to the
-- fraud zsets of its terminal and merchant ("t:<id>", "m:<id>"), member the
-- transaction, so a duplicated label counts once. Every transaction that
-- is joined or matures is added to its entities' labelled-transaction zsets
-- ("t:<id>:n", "m:<id>:n") at ts + horizon, the time its outcome is known:
-- the denominator of the Handbook's delayed terminal risk. A record is
-- deleted once joined, so a duplicated label finds nothing to learn from a
-- second time.
--
-- Returns {labels, legit}: labels is a flat list of verdict, member, record
-- (record false when the transaction is unknown here or was already joined);
-- legit a flat list of member, record.

local held, scored, due = KEYS[1], KEYS[2], KEYS[3]
local upto, legit_upto = ARGV[1], ARGV[2]
local prefix, trim_before, horizon = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])

-- Record a joined or matured transaction on its terminal and merchant.
local function count_entities(member, record, fraud_ts)
  local ts, terminal, merchant = string.match(record, '^(%d+)|([^|]*)|([^|]*)|')
  local known_at = tonumber(ts) + horizon
  for slot = 1, 2 do
    local entity = slot == 1 and terminal or merchant
    if entity ~= '' then
      local k = prefix .. (slot == 1 and 't:' or 'm:') .. entity
      redis.call('ZADD', k .. ':n', known_at, member)
      redis.call('ZREMRANGEBYSCORE', k .. ':n', '-inf', trim_before)
      redis.call('PEXPIRE', k .. ':n', 2678400000)
      if fraud_ts then
        redis.call('ZADD', k, fraud_ts, member)
        redis.call('ZREMRANGEBYSCORE', k, '-inf', trim_before)
        redis.call('PEXPIRE', k, 2678400000)
      end
    end
  end
end

local out_labels = {}
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', held, '-inf', upto, 'WITHSCORES')) do
  table.insert(out_labels, entry)
end
redis.call('ZREMRANGEBYSCORE', held, '-inf', upto)

local labels = {}
for i = 1, #out_labels, 2 do
  local entry, label_ts = out_labels[i], out_labels[i + 1]
  local sep = string.find(entry, '\n', 1, true)
  local verdict = string.sub(entry, 1, sep - 1)
  local member = string.sub(entry, sep + 1)
  local record = redis.call('HGET', scored, member)
  if record then
    redis.call('HDEL', scored, member)
    redis.call('ZREM', due, member)
    count_entities(member, record, verdict == 'fraud' and label_ts or nil)
  end
  table.insert(labels, verdict)
  table.insert(labels, member)
  table.insert(labels, record or false)
end

local legit = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', legit_upto)) do
  local record = redis.call('HGET', scored, member)
  if record then
    redis.call('HDEL', scored, member)
    count_entities(member, record, nil)
    table.insert(legit, member)
    table.insert(legit, record)
  end
end
redis.call('ZREMRANGEBYSCORE', due, '-inf', legit_upto)
return {labels, legit}
