-- Move chosen jobs between sets exactly once: each item is claimed from its source (ZREM from
-- a sorted set, LREM from a list); only a claimed item is put where it goes. Many callers may
-- race on the same items (the scheduled-job poller of every process): each moves once.
--
-- A member claimed from a list (a queue, an in-flight list) may have a rescue count: it is
-- dropped with the member (only when some job has one), so a job deleted or buried before
-- it ran leaves no count behind. Members of sets have none (a finish clears them). A member
-- claimed from an in-flight list (a reserve burying bytes that are not a job) frees the
-- concurrency slot it holds, if any (limits.lua).
--
-- A job to a priority list (p) puts its queue in jobs-rs:pqueues and collects the blocking
-- connections waiting on queue:<name> to wake (see push.lua). A claimed job with a unique
-- lock (lock.lua) releases it when deleted or killed, and records where it waits when
-- enqueued (compare by jid both: another job's lock is never touched).
--
-- KEYS[1] queues set, KEYS[2] dead, KEYS[3] jobs-rs:stat:dead_trimmed, KEYS[4] jobs-rs:rescues,
-- KEYS[5] jobs-rs:pqueues, per item: KEYS[4+2i] source key, KEYS[5+2i] destination key
-- (queue:<name>, jobs-rs:pqueue:<p>:<name>, dead, or the source again when deleting).
-- ARGV[1] now (epoch s, the dead score), ARGV[2] dead cutoff, ARGV[3] dead max jobs,
-- ARGV[4] the key prefix, then 7 per item: source type (z = sorted set, l = list), member,
-- action (x = delete, q = LPUSH to the tail of a queue, p = LPUSH to the tail of a priority
-- list, d = into dead, c = into the cancelled set given as destination), payload to store, queue name, and the key of the job's unique lock
-- and its jid ('' and '' when it has none).
-- Returns { moved, dead_trimmed, {client id to wake, ...} }.
local n = (#KEYS - 5) / 2
local ns = ARGV[4]
local wake, woken = {}, {}
local count = 0
local killed = false
local counting = redis.call('EXISTS', KEYS[4]) == 1
for i = 1, n do
  local b = 4 + (i - 1) * 7
  local src, dst = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
  local claimed
  if ARGV[b + 1] == 'z' then
    claimed = redis.call('ZREM', src, ARGV[b + 2])
  else
    claimed = redis.call('LREM', src, -1, ARGV[b + 2])
    if claimed > 0 and counting then
      redis.call('HDEL', KEYS[4], redis.sha1hex(ARGV[b + 2]))
    end
    if claimed > 0 then free_slot(ns, src, ARGV[b + 2], nil) end
  end
  if claimed > 0 then
    count = count + 1
    local action, queue, key = ARGV[b + 3], ARGV[b + 5], ARGV[b + 6]
    if action == 'q' or action == 'p' then
      redis.call('LPUSH', dst, ARGV[b + 4])
      redis.call('SADD', KEYS[1], queue)
    elseif action == 'd' then
      redis.call('ZADD', KEYS[2], ARGV[1], ARGV[b + 4])
      killed = true
    elseif action == 'c' then
      -- Cancelled: into jobs-rs:cancelled (the item's destination), trimmed by the caller.
      redis.call('ZADD', dst, ARGV[1], ARGV[b + 4])
    end
    if action == 'p' then
      redis.call('SADD', KEYS[5], queue)
      if not woken[queue] then
        woken[queue] = true
        local t = redis.call('TIME')
        local sleepers = ns .. 'jobs-rs:sleepers:' .. queue
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', sleepers, t[1], '+inf')) do
          wake[#wake + 1] = id
        end
      end
    end
    if key ~= '' then
      local lk, jid = ns .. 'jobs-rs:unique:' .. key, ARGV[b + 7]
      if action == 'q' or action == 'p' then
        moved(lk, jid, 'l', dst, ARGV[b + 4])
      else
        release(lk, ns .. 'jobs-rs:uniques', key, jid)
      end
    end
  end
end
local trimmed = 0
if killed then
  trimmed = redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
  trimmed = trimmed + redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[3]) + 1))
  if trimmed > 0 then redis.call('INCRBY', KEYS[3], trimmed) end
end
return { count, trimmed, wake }
