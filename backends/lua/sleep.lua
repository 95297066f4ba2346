-- Run right before a blocking LMOVE on queue:<name>, on the blocking connection, sent just
-- ahead of it: registers the connection's client id among the queue's sleepers until shortly
-- after its wait ends (server clock). A push of a prioritized job, which the pop does not see
-- (it watches queue:<name> only), reads the sleepers and wakes them with CLIENT UNBLOCK, so
-- the reserve looks again at once. A prioritized job pushed after the reserve looked and
-- before this registration found no sleeper to wake: this script answers 1 when the queue has
-- prioritized jobs waiting, and the caller then wakes its own pop. blocked.lua removes the
-- entry after the pop; lapsed entries (a connection that died blocking) are dropped here, and
-- the key expires when idle.
--
-- KEYS[1] jobs-rs:sleepers:<name> (zset: client id -> until when it blocks, epoch s),
-- KEYS[2] jobs-rs:pqueues.
-- ARGV[1] the client id, ARGV[2] the wait (seconds), ARGV[3] the queue name.
-- Returns 1 when the queue has prioritized jobs waiting, else 0.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[2]) + 1
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], untl, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 2)
return redis.call('SISMEMBER', KEYS[2], ARGV[3])
