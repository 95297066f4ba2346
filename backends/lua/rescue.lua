-- Rescue the jobs of processes whose lease expired: every in-flight list of such a process is
-- pushed back to the head (the right end) of its queue, oldest job nearest the head, and the
-- list deleted, so a late finish by that process removes nothing and is reported lost.
-- Then drop the records of processes whose last beat is older than their lease ttl.
--
-- KEYS[1] jobs-rs:leases, KEYS[2] jobs-rs:beats, KEYS[3] processes, KEYS[4] queues.
-- ARGV[1] now (epoch s), ARGV[2] the key prefix ("" or "<prefix>:").
-- Keys of a process are built here from ARGV[2] exactly as the Rust side builds them:
-- jobs-rs:leased:<len(p)>:<p> and jobs-rs:inflight:<len(p)>:<p>:<queue>.
-- Returns { rescued jobs, process, count, process, count, ... }.
local ns = ARGV[2]
local total = 0
local report = {}
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local tag = #p .. ':' .. p
  local leased = ns .. 'jobs-rs:leased:' .. tag
  local count = 0
  for _, q in ipairs(redis.call('SMEMBERS', leased)) do
    local inflight = ns .. 'jobs-rs:inflight:' .. tag .. ':' .. q
    local queue = ns .. 'queue:' .. q
    -- LMOVE from the newest end onto the head: the oldest job ends up at the head.
    while redis.call('LMOVE', inflight, queue, 'LEFT', 'RIGHT') do
      count = count + 1
    end
    redis.call('SADD', KEYS[4], q)
  end
  redis.call('DEL', leased)
  redis.call('ZREM', KEYS[1], p)
  if count > 0 then
    report[#report + 1] = p
    report[#report + 1] = count
    total = total + count
  end
end
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  redis.call('SREM', KEYS[3], p)
  redis.call('DEL', ns .. p, ns .. p .. ':workers', ns .. p .. ':work')
  redis.call('ZREM', KEYS[2], p)
end
local out = { total }
for _, v in ipairs(report) do out[#out + 1] = v end
return out
