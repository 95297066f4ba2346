-- Extend a process's lease and the life of its record, in one step of the heartbeat's
-- transaction: both scores are the lease expiry, given as an epoch score or, as "+<seconds>",
-- that long after the server's own clock (leases in the store's clock).
--
-- KEYS[1] jobs-rs:leases, KEYS[2] jobs-rs:beats.
-- ARGV[1] the lease expiry (see lease_time), ARGV[2] the process id.
local at = lease_time(ARGV[1])
redis.call('ZADD', KEYS[1], at, ARGV[2])
redis.call('ZADD', KEYS[2], at, ARGV[2])
return 0
