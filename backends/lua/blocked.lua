-- Run right after a blocking LMOVE of one process, in the same round trip: is the lease epoch
-- still the one reserve.lua read before the pop? A rescue of the process in between (it was
-- taken for silent) raised it; the job the pop moved, if any, must then not be handed out
-- under the old epoch, and the list it went into may no longer be registered for rescues.
-- So, when the epoch moved, the queue is registered again and the lease renewed, so that job
-- is found by a rescue should the process die; the caller gives it back to its queue.
-- Also: the connection's entry among the queue's sleepers (sleep.lua) is removed, and the job
-- at the head of the in-flight list (the one the pop moved, if it moved one) has its unique
-- lock released when it is held until the job starts. Should the pop have moved nothing, that
-- job is one taken earlier whose start lock was released then: releasing is compare-and-delete
-- by jid, so this does nothing to a lock another job has taken since. A job with a
-- concurrency limit keeps its lock here: it may yet be moved aside, and slot.lua, run next
-- for it, releases the lock when the job takes its slot.
--
-- KEYS[1] jobs-rs:epoch:<p>, KEYS[2] jobs-rs:rescues, KEYS[3] jobs-rs:leased:<p>,
-- KEYS[4] jobs-rs:leases, KEYS[5] the in-flight list, KEYS[6] jobs-rs:sleepers:<queue>.
-- ARGV[1] the epoch reserve.lua returned, ARGV[2] the queue name, ARGV[3] the lease expiry
-- (see lease_time), ARGV[4] the process id, ARGV[5] the key prefix, ARGV[6] the connection's
-- client id ('' when it registered none).
-- Returns { current epoch, 1 when some job has a rescue count else 0 }.
local epoch = redis.call('GET', KEYS[1]) or '0'
if epoch ~= ARGV[1] then
  redis.call('SADD', KEYS[3], ARGV[2])
  redis.call('ZADD', KEYS[4], 'GT', lease_time(ARGV[3]), ARGV[4])
end
if ARGV[6] ~= '' then redis.call('ZREM', KEYS[6], ARGV[6]) end
local job = redis.call('LINDEX', KEYS[5], 0)
if job and not string.find(job, '"jobs_rs_concurrency"', 1, true) then
  release_named(ARGV[5], job, true)
end
return { tonumber(epoch), redis.call('EXISTS', KEYS[2]) }
