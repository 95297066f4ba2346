-- The rescue count of one job, for a job taken by a blocking LMOVE while some job has been
-- rescued (reserve.lua reads the counts of the jobs it takes itself).
--
-- KEYS[1] jobs-rs:rescues (hash: SHA-1 of a payload -> times it was rescued).
-- ARGV[1] the payload.
-- Returns the count, 0 when it was never rescued.
return tonumber(redis.call('HGET', KEYS[1], redis.sha1hex(ARGV[1])) or '0')
