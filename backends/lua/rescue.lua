-- Rescue the jobs of processes whose lease expired: every in-flight list of such a process is
-- pushed back to the head (the right end) of its queue, oldest job nearest the head, and the
-- list emptied, so a late finish by that process removes nothing and is reported lost.
-- Each rescue of a job is counted in jobs-rs:rescues (field: the SHA-1 of its payload, which
-- goes back byte-identical, so every rescue of it finds the same field). A job whose count
-- reaches the most rescues allowed was running every time a process died: it goes into the
-- dead set as it is, its count dropped, and is returned so the caller stores it with an
-- error saying so (until then it is dead with its payload unchanged, never lost); its unique
-- lock, if it holds one, is released with it (lock.lua). A job pushed back keeps its lock.
-- The process's lease epoch (jobs-rs:epoch:<n>:<p>) is raised, so every lease token it holds
-- is stale from now on, even for a job it reserves again later (same bytes, same list); it
-- expires ARGV[4] seconds after the process's last beat (heartbeats renew it).
-- A job that holds a concurrency slot frees it (limits.lua), a waiting job it brings back
-- ending up right behind it. Every key with no slot held, jobs waiting and none on its way
-- gets its oldest waiting job back (the one on its way to a slot was deleted).
-- Then drop the records of processes whose last beat is older than their lease ttl.
--
-- KEYS[1] jobs-rs:leases, KEYS[2] jobs-rs:beats, KEYS[3] processes, KEYS[4] queues,
-- KEYS[5] jobs-rs:rescues, KEYS[6] dead.
-- ARGV[1] now (epoch s, or "+0" for the server's clock: see lease_time), ARGV[2] the key prefix ("" or "<prefix>:"), ARGV[3] the rescue
-- count at which a job goes to the dead set, ARGV[4] the ttl of an epoch key (seconds).
-- Keys of a process are built here from ARGV[2] exactly as the Rust side builds them:
-- jobs-rs:leased:<len(p)>:<p>, jobs-rs:epoch:<len(p)>:<p> and
-- jobs-rs:inflight:<len(p)>:<p>:<queue>.
-- Returns { rescued jobs, {queue, payload, count, ...} of the jobs buried,
-- process, count, process, count, ... }.
local now = lease_time(ARGV[1])
local ns = ARGV[2]
local max = tonumber(ARGV[3])
local total = 0
local report = {}
local buried = {}
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  local tag = #p .. ':' .. p
  local leased = ns .. 'jobs-rs:leased:' .. tag
  local count = 0
  for _, q in ipairs(redis.call('SMEMBERS', leased)) do
    local inflight = ns .. 'jobs-rs:inflight:' .. tag .. ':' .. q
    local queue = ns .. 'queue:' .. q
    -- From the newest end onto the head: the oldest job ends up at the head.
    while true do
      local job = redis.call('LPOP', inflight)
      if not job then break end
      local field = redis.sha1hex(job)
      local n = redis.call('HINCRBY', KEYS[5], field, 1)
      if n >= max then
        free_slot(ns, inflight, job, nil)
        redis.call('HDEL', KEYS[5], field)
        redis.call('ZADD', KEYS[6], now, job)
        release_named(ns, job, false)
        -- A batch member dies in this step (batch.lua); only a job with a `bid` is decoded.
        if string.find(job, '"bid":', 1, true) then
          local ok, decoded = pcall(cjson.decode, job)
          if ok and type(decoded) == 'table' and type(decoded.bid) == 'string' then
            batch_walk(ns, decoded.bid, decoded.jid, 'dead', false, tostring(now))
          end
        end
        buried[#buried + 1] = q
        buried[#buried + 1] = job
        buried[#buried + 1] = n
      else
        free_slot(ns, inflight, job, q)
        redis.call('RPUSH', queue, job)
      end
      count = count + 1
    end
    redis.call('SADD', KEYS[4], q)
  end
  redis.call('DEL', leased)
  -- Raised even when nothing was in flight: a blocking pop this process started earlier
  -- may still move a job, and that job must not be handed out under the old epoch.
  local epoch = ns .. 'jobs-rs:epoch:' .. tag
  redis.call('INCR', epoch)
  redis.call('EXPIRE', epoch, ARGV[4])
  redis.call('ZREM', KEYS[1], p)
  if count > 0 then
    report[#report + 1] = p
    report[#report + 1] = count
    total = total + count
  end
end
-- A key with no slot held and jobs waiting, whose job on its way to the slot is no longer in
-- its queue, has lost it (an operator deleted the job a freed slot brought back): bring its
-- oldest waiting job back. While that job is still queued the key is left alone, so no later
-- job overtakes it.
local limits = ns .. 'jobs-rs:limits'
local counts = redis.call('HGETALL', limits)
for i = 1, #counts, 2 do
  if tonumber(counts[i + 1]) == WAITS and not on_way[counts[i]]
    and not on_its_way(ns, counts[i]) then
    local gone = bring_back(ns, counts[i])
    if gone > 0 and redis.call('HINCRBY', limits, counts[i], -gone) <= 0 then
      redis.call('HDEL', limits, counts[i])
    end
  end
end
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('SREM', KEYS[3], p)
  redis.call('DEL', ns .. p, ns .. p .. ':workers', ns .. p .. ':work')
  redis.call('ZREM', KEYS[2], p)
end
local out = { total, buried }
for _, v in ipairs(report) do out[#out + 1] = v end
return out
