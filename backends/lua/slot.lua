-- Run right after a blocking LMOVE moved a job with a concurrency limit (the pop moves it
-- without reserve.lua): the job takes a slot of its key for its lease, or, the key being
-- full, is moved aside to the key's waiting list, as reserve.lua does (limits.lua). A job no
-- longer in the in-flight list, or moved under an epoch that is no longer the process's (a
-- rescue gave it back since), is left alone and not handed out. Taking its slot, the job
-- has its unique lock released when the lock is held until it starts (blocked.lua left it).
--
-- KEYS[1] the in-flight list, KEYS[2] jobs-rs:epoch:<p>.
-- ARGV[1] the payload, ARGV[2] the epoch the pop ran under, ARGV[3] the key prefix,
-- ARGV[4] the queue name.
-- Returns 0 when the job holds its slot (hand it out), 1 when it was moved aside, 2 when it
-- is gone.
local job, ns = ARGV[1], ARGV[3]
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then return 2 end
if not redis.call('LPOS', KEYS[1], job) then return 2 end
local key, most = limit_of(job)
if key and not take_slot(ns, key, most, holder(KEYS[1], job)) then
  redis.call('LREM', KEYS[1], 1, job)
  wait_aside(ns, key, ARGV[4], job)
  return 1
end
release_named(ns, job, true)
return 0
