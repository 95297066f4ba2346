-- Batch operations, each one atomic step (after batch.lua's helpers).
-- ARGV[1] the key prefix ("" or "<prefix>:"), ARGV[2] the operation, ARGV[3] the batch id,
-- ARGV[4] now (epoch seconds), then per operation:
--   create: ARGV[5] info JSON, ARGV[6] parent ('' for none), ARGV[7] created (epoch s),
--           ARGV[8] expires (epoch s), ARGV[9] sealed (1/0) then, after a comma, cancel on
--           death (1/0), ARGV[10] number of callbacks C,
--           then C × (event, queue, job JSON), then members as in add;
--   add:    members from ARGV[5]: per member its jid, queue, due time ('' for now), JSON;
--   seal:   nothing more;
--   cleanup: nothing more (ARGV[3] ignored): removes the batches expired at now.
-- Returns 1, or an error reply naming the batch.
local ns, op, bid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = ns .. 'jobs-rs:batch:' .. bid

local function members_from(a)
  local n = 0
  while a <= #ARGV do
    local jid, q, at, json = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
    if redis.call('SADD', key .. ':pending', jid) == 1 then n = n + 1 end
    if at ~= '' then
      redis.call('ZADD', ns .. 'schedule', at, json)
    else
      batch_enqueue(ns, q, json)
    end
    a = a + 4
  end
  return n
end

local function seal()
  if redis.call('HGET', key, 'sealed') == '1' then return end
  redis.call('HSET', key, 'sealed', '1')
  batch_walk(ns, bid, false, false, false, now)
end

if op == 'create' then
  local parent = ARGV[6]
  if parent ~= '' then
    local pkey = ns .. 'jobs-rs:batch:' .. parent
    if redis.call('EXISTS', pkey) == 0 then
      return redis.error_reply('batch ' .. parent .. ' does not exist (never created, or expired)')
    end
    redis.call('SADD', pkey .. ':pending', 'b:' .. bid)
    redis.call('SADD', pkey .. ':children', bid)
  end
  redis.call('HSET', key, 'info', ARGV[5], 'sealed', '0', 'parent', parent,
    'cancel_on_death', string.sub(ARGV[9], 3, 3))
  redis.call('ZADD', ns .. 'jobs-rs:batches', ARGV[7], bid)
  redis.call('ZADD', ns .. 'jobs-rs:batches:expiry', ARGV[8], bid)
  local c = tonumber(ARGV[10])
  local a = 11
  for _ = 1, c do
    redis.call('HSET', key, 'cb:' .. ARGV[a], ARGV[a + 2], 'cbq:' .. ARGV[a], ARGV[a + 1])
    a = a + 3
  end
  members_from(a)
  if string.sub(ARGV[9], 1, 1) == '1' then seal() end
elseif op == 'add' then
  if redis.call('EXISTS', key) == 0 then
    return redis.error_reply('batch ' .. bid .. ' does not exist (never created, or expired)')
  end
  if redis.call('HEXISTS', key, 'complete_at') == 1 then
    return redis.error_reply('batch ' .. bid .. ' already completed: no member can be added')
  end
  members_from(5)
elseif op == 'seal' then
  if redis.call('EXISTS', key) == 0 then
    return redis.error_reply('batch ' .. bid .. ' does not exist (never created, or expired)')
  end
  seal()
elseif op == 'cleanup' then
  local gone = redis.call('ZRANGEBYSCORE', ns .. 'jobs-rs:batches:expiry', '-inf', now)
  for _, b in ipairs(gone) do
    local k = ns .. 'jobs-rs:batch:' .. b
    redis.call('DEL', k, k .. ':pending', k .. ':succeeded', k .. ':failed', k .. ':dead',
      k .. ':children')
    redis.call('ZREM', ns .. 'jobs-rs:batches', b)
    redis.call('ZREM', ns .. 'jobs-rs:batches:expiry', b)
  end
  return #gone
end
return 1
