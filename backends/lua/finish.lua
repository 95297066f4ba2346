-- Settle reserved jobs in one atomic step. Per item, the fence is its process's lease epoch
-- and LREM of the exact raw payload from the process's in-flight list: a token whose epoch is
-- not the process's current one (the process was rescued since, whatever it reserved after)
-- or a payload not in the list (already settled) means the lease was lost, and nothing is
-- applied for that item. A job that had been rescued has its rescue count cleared (the run
-- ended: whatever killed processes before, it was not this job this time); only such a job
-- costs the SHA-1 and the HDEL.
-- An expired job (outcome e) is dropped unrun: counted in jobs-rs:stat:expired, neither
-- processed nor failed. A job with a unique lock (u = 1) names it: its lock is released
-- (compare-and-delete by jid, lock.lua) when it completes, is discarded, dies or expires, and
-- records where the job now waits when it goes to the retry or the schedule set.
--
-- KEYS[1] retry, KEYS[2] schedule, KEYS[3] dead, KEYS[4] stat:processed, KEYS[5] stat:failed,
-- KEYS[6] stat:processed:<day>, KEYS[7] stat:failed:<day>, KEYS[8] jobs-rs:stat:dead_trimmed,
-- KEYS[9] jobs-rs:rescues, then per in-flight list j the items name (each once, as a list and
-- an epoch): KEYS[8+2j] the in-flight list, KEYS[9+2j] jobs-rs:epoch:<n>:<process>; then,
-- only when some item is locked or expired, KEYS[10+2L] jobs-rs:uniques and
-- KEYS[11+2L] jobs-rs:stat:expired.
-- ARGV[1] now (epoch s), ARGV[2] dead cutoff (epoch s: older dead jobs are trimmed),
-- ARGV[3] dead max jobs, ARGV[4] ttl of the per-day counters (seconds), ARGV[5] the number of
-- lists L, ARGV[5+j] the epoch the tokens of list j carry,
-- then per item a header `<outcome><failed><rescued><u><j>` (outcome: c = completed/discard,
-- r = retry, s = snooze, d = dead, e = expired, x = cancelled; failed: 1 or 0; rescued: 1 when the job had a
-- rescue count, else 0; u: a digit summing 1 when the job has a unique lock, 2 when a result
-- is stored with it and 4 when it is a batch member; j: its list), the raw payload, unless
-- the outcome is c or e the score and the job JSON to store, for a locked job its lock hash
-- key, the lock's key and the jid, for a result its key (jobs-rs:result:<jid>), the record,
-- its time to live in ms and its expiry (epoch s, its score in jobs-rs:results, which the
-- rescue pass purges by), set only when the item applies: a lost settle stores no result,
-- and for a batch member its batch id and jid (batch.lua moves it in its batch; a cancelled
-- member counts with the dead). Completed items, the common case, cost two arguments.
-- A settled job that holds a concurrency slot frees it, bringing the oldest job waiting for
-- its key back (limits.lua: freed together at the end; the key prefix is KEYS[1] without its
-- "retry").
-- A batch member (u = 2, or 3 with a lock) names its batch id and jid after the lock's
-- arguments: its batch moves in this same step (batch.lua's batch_walk).
-- Returns { dead_trimmed, lost index, lost index, ... } (indexes 0-based).
local ns = string.sub(KEYS[1], 1, -6)
local lost = {}
local processed, failed, expired = 0, 0, 0
local killed = false
local nlists = tonumber(ARGV[5])
-- Per list: true while its tokens' epoch is the process's current one (read once).
local current = {}
local a, item = 6 + nlists, 0
while a <= #ARGV do
  local head = ARGV[a]
  local outcome = string.sub(head, 1, 1)
  local j = tonumber(string.sub(head, 5))
  local list = KEYS[8 + 2 * j]
  local held = current[j]
  if held == nil then
    held = (redis.call('GET', KEYS[9 + 2 * j]) or '0') == ARGV[5 + j]
    current[j] = held
  end
  local raw = ARGV[a + 1]
  local at, json = nil, nil
  if outcome == 'c' or outcome == 'e' then
    a = a + 2
  else
    at, json = ARGV[a + 2], ARGV[a + 3]
    a = a + 4
  end
  local lk, key, jid
  -- u: 1 a unique lock, 2 a result stored with the settle, 4 a batch member (summed).
  local flags = tonumber(string.sub(head, 4, 4))
  if flags % 2 == 1 then
    lk, key, jid = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    a = a + 3
  end
  local rk, rv, rttl
  local rscore
  if math.floor(flags / 2) % 2 == 1 then
    rk, rv, rttl, rscore = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
    a = a + 4
  end
  local bid, bjid
  if flags >= 4 then
    bid, bjid = ARGV[a], ARGV[a + 1]
    a = a + 2
  end
  if not held or redis.call('LREM', list, -1, raw) == 0 then
    lost[#lost + 1] = item
  else
    free_later(list, raw)
    if rk then
      redis.call('SET', rk, rv, 'PX', rttl)
      redis.call('ZADD', ns .. 'jobs-rs:results', rscore, rk)
    end
    if string.sub(head, 3, 3) == '1' then
      redis.call('HDEL', KEYS[9], redis.sha1hex(raw))
    end
    if outcome == 'r' then
      redis.call('ZADD', KEYS[1], at, json)
    elseif outcome == 's' then
      redis.call('ZADD', KEYS[2], at, json)
    elseif outcome == 'd' then
      redis.call('ZADD', KEYS[3], ARGV[1], json)
      killed = true
    elseif outcome == 'e' then
      expired = expired + 1
    elseif outcome == 'x' then
      -- Cancelled: kept in jobs-rs:cancelled, counted neither processed nor failed.
      redis.call('ZADD', ns .. 'jobs-rs:cancelled', ARGV[1], json)
    end
    if lk then
      if outcome == 'r' then
        moved(lk, jid, 'z', KEYS[1], json)
      elseif outcome == 's' then
        moved(lk, jid, 'z', KEYS[2], json)
      else
        release(lk, KEYS[10 + 2 * nlists], key, jid)
      end
    end
    if bid and outcome ~= 's' then
      -- A cancelled member can no longer succeed: the batch counts it with the dead.
      local to = 'succeeded'
      if outcome == 'r' then to = 'failed'
      elseif outcome == 'd' or outcome == 'x' or (outcome == 'c' and string.sub(head, 2, 2) == '1') then to = 'dead' end
      batch_walk(ns, bid, bjid, to, false, ARGV[1])
    end
    if outcome ~= 's' and outcome ~= 'e' and outcome ~= 'x' then processed = processed + 1 end
    if string.sub(head, 2, 2) == '1' then failed = failed + 1 end
  end
  item = item + 1
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
if expired > 0 then redis.call('INCRBY', KEYS[11 + 2 * nlists], expired) end
free_deferred(ns)
local trimmed = 0
if killed then
  trimmed = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
  trimmed = trimmed + redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[3]) + 1))
  if trimmed > 0 then redis.call('INCRBY', KEYS[8], trimmed) end
end
local out = { trimmed }
for _, v in ipairs(lost) do out[#out + 1] = v end
return out
