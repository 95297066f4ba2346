-- Settle reserved jobs in one atomic step. Per item, LREM of the exact raw payload from the
-- process's in-flight list is the fence: 0 removed means the lease was lost (rescued or
-- already settled) and nothing is applied for that item.
--
-- KEYS[1] retry, KEYS[2] schedule, KEYS[3] dead, KEYS[4] stat:processed, KEYS[5] stat:failed,
-- KEYS[6] stat:processed:<day>, KEYS[7] stat:failed:<day>, KEYS[8] jobs-rs:stat:dead_trimmed,
-- KEYS[8+i] the in-flight list of item i.
-- ARGV[1] now (epoch s), ARGV[2] dead cutoff (epoch s: older dead jobs are trimmed),
-- ARGV[3] dead max jobs, ARGV[4] ttl of the per-day counters (seconds),
-- then 5 per item: raw payload, outcome (c = completed/discard, r = retry, s = snooze,
-- d = dead), score, job JSON to store, failed ("1"/"0").
-- Returns { dead_trimmed, lost index, lost index, ... } (indexes 0-based).
local n = #KEYS - 8
local lost = {}
local processed, failed = 0, 0
local killed = false
for i = 1, n do
  local b = 4 + (i - 1) * 5
  if redis.call('LREM', KEYS[8 + i], -1, ARGV[b + 1]) == 0 then
    lost[#lost + 1] = i - 1
  else
    local outcome = ARGV[b + 2]
    if outcome == 'r' then
      redis.call('ZADD', KEYS[1], ARGV[b + 3], ARGV[b + 4])
    elseif outcome == 's' then
      redis.call('ZADD', KEYS[2], ARGV[b + 3], ARGV[b + 4])
    elseif outcome == 'd' then
      redis.call('ZADD', KEYS[3], ARGV[1], ARGV[b + 4])
      killed = true
    end
    if outcome ~= 's' then processed = processed + 1 end
    if ARGV[b + 5] == '1' then failed = failed + 1 end
  end
end
if processed > 0 then
  redis.call('INCRBY', KEYS[4], processed)
  redis.call('INCRBY', KEYS[6], processed)
  redis.call('EXPIRE', KEYS[6], ARGV[4])
end
if failed > 0 then
  redis.call('INCRBY', KEYS[5], failed)
  redis.call('INCRBY', KEYS[7], failed)
  redis.call('EXPIRE', KEYS[7], ARGV[4])
end
local trimmed = 0
if killed then
  trimmed = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
  trimmed = trimmed + redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[3]) + 1))
  if trimmed > 0 then redis.call('INCRBY', KEYS[8], trimmed) end
end
local out = { trimmed }
for _, v in ipairs(lost) do out[#out + 1] = v end
return out
