-- Move chosen jobs between sets exactly once: each item is claimed from its source (ZREM from
-- a sorted set, LREM from a list); only a claimed item is put where it goes. Many callers may
-- race on the same items (the scheduled-job poller of every process): each moves once.
--
-- A member claimed from a list (a queue, an in-flight list) may have a rescue count: it is
-- dropped with the member (only when some job has one), so a job deleted or buried before
-- it ran leaves no count behind. Members of sets have none (a finish clears them).
--
-- KEYS[1] queues set, KEYS[2] dead, KEYS[3] jobs-rs:stat:dead_trimmed, KEYS[4] jobs-rs:rescues,
-- per item: KEYS[3+2i] source key, KEYS[4+2i] destination key (queue:<name>, dead, or the
-- source again when deleting).
-- ARGV[1] now (epoch s, the dead score), ARGV[2] dead cutoff, ARGV[3] dead max jobs,
-- then 5 per item: source type (z = sorted set, l = list), member, action (x = delete,
-- q = LPUSH to the tail of a queue, d = into dead), payload to store, queue name.
-- Returns { moved, dead_trimmed }.
local n = (#KEYS - 4) / 2
local moved = 0
local killed = false
local counting = redis.call('EXISTS', KEYS[4]) == 1
for i = 1, n do
  local b = 3 + (i - 1) * 5
  local src, dst = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local claimed
  if ARGV[b + 1] == 'z' then
    claimed = redis.call('ZREM', src, ARGV[b + 2])
  else
    claimed = redis.call('LREM', src, -1, ARGV[b + 2])
    if claimed > 0 and counting then
      redis.call('HDEL', KEYS[4], redis.sha1hex(ARGV[b + 2]))
    end
  end
  if claimed > 0 then
    moved = moved + 1
    local action = ARGV[b + 3]
    if action == 'q' then
      redis.call('LPUSH', dst, ARGV[b + 4])
      redis.call('SADD', KEYS[1], ARGV[b + 5])
    elseif action == 'd' then
      redis.call('ZADD', KEYS[2], ARGV[1], ARGV[b + 4])
      killed = true
    end
  end
end
local trimmed = 0
if killed then
  trimmed = redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
  trimmed = trimmed + redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[3]) + 1))
  if trimmed > 0 then redis.call('INCRBY', KEYS[3], trimmed) end
end
return { moved, trimmed }
