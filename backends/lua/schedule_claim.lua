-- Claim one tick of a recurring job and push its job, in one atomic step: the claim key is
-- set only if absent (SET NX, expiring after the keep time), and only the caller that set it
-- pushes the job to the tail of its queue and raises the schedule's last_run to the tick.
-- A crash can never leave a claim without its job, and no two callers both push.
--
-- A job with a priority goes to its priority list instead (KEYS[2] names it), its queue into
-- jobs-rs:pqueues, and the blocking connections waiting on its queue are returned to be woken
-- (see push.lua).
--
-- KEYS[1] the claim key (<ns>jobs-rs:schedule-claim:<len>:<name>:<tick µs>)
-- KEYS[2] queue:<name> or jobs-rs:pqueue:<p>:<name>   KEYS[3] queues set
-- KEYS[4] the schedule's hash   and for a prioritized job: KEYS[5] jobs-rs:pqueues,
-- KEYS[6] jobs-rs:sleepers:<name>
-- ARGV[1] keep in ms   ARGV[2] payload   ARGV[3] queue name   ARGV[4] tick (epoch seconds)
-- Returns { 1, {client id to wake, ...} } when claimed (job pushed), { 0, {} } when the tick
-- was already claimed.
if not redis.call('SET', KEYS[1], ARGV[4], 'NX', 'PX', ARGV[1]) then
  return { 0, {} }
end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
local wake = {}
if KEYS[5] then
  redis.call('SADD', KEYS[5], ARGV[3])
  local t = redis.call('TIME')
  wake = redis.call('ZRANGEBYSCORE', KEYS[6], t[1], '+inf')
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  local last = tonumber(redis.call('HGET', KEYS[4], 'last_run') or '')
  if last == nil or tonumber(ARGV[4]) > last then
    redis.call('HSET', KEYS[4], 'last_run', ARGV[4])
  end
end
return { 1, wake }
