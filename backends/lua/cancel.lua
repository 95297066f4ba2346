-- Request the cancel of a running job, atomically with the settles and rescues that take
-- it out of its in-flight list: when a process's in-flight list holds the job, record the
-- request and announce it; otherwise do nothing.
--
-- KEYS[1] jobs-rs:leases (the processes holding leases), KEYS[2] jobs-rs:cancels (jid ->
-- when requested). ARGV[1] the key prefix, ARGV[2] the needle `"jid":"<jid>"`, ARGV[3] the
-- jid, ARGV[4] now (epoch s), ARGV[5] the pub/sub channel, ARGV[6] the cutoff below which
-- old requests are pruned.
-- Returns 1 when the job runs (request stored and published), else 0.
local ns = ARGV[1]
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[6])
for _, p in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local prefix = ns .. 'jobs-rs:inflight:' .. #p .. ':' .. p .. ':'
  for _, q in ipairs(redis.call('SMEMBERS', ns .. 'jobs-rs:leased:' .. #p .. ':' .. p)) do
    for _, m in ipairs(redis.call('LRANGE', prefix .. q, 0, -1)) do
      if string.find(m, ARGV[2], 1, true) then
        redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
        redis.call('PUBLISH', ARGV[5], ARGV[3])
        return 1
      end
    end
  end
end
return 0
