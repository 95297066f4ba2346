-- Run right before a blocking LMOVE on queue:<name>, on the blocking connection, in the same
-- round trip: registers the connection's client id among the queue's sleepers until shortly
-- after its wait ends (server clock). A push of a prioritized job, which the pop does not see
-- (it watches queue:<name> only), reads the sleepers and wakes them with CLIENT UNBLOCK, so
-- the reserve looks again at once. blocked.lua removes the entry after the pop; lapsed entries
-- (a connection that died blocking) are dropped here, and the key expires when idle.
--
-- KEYS[1] jobs-rs:sleepers:<name> (zset: client id -> until when it blocks, epoch s).
-- ARGV[1] the client id, ARGV[2] the wait (seconds).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[2]) + 1
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], untl, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 2)
return 1
