-- Take one start from a rate limit: a sliding log of the starts granted, in microseconds.
-- Starts older than the window are pruned first; fewer than `limit` left means granted (the
-- start is logged), else refused with the time the oldest of the last `limit` starts leaves
-- the window. Refusals log nothing. The log expires one window after its last start (in the
-- server's time), and the index keeps each key's window end, for the listing; entries whose
-- window ended are dropped as calls pass them, with the key's limit and window.
--
-- KEYS[1] jobs-rs:rate:<key> (zset: start id -> start, µs), KEYS[2] jobs-rs:rates (zset:
-- key -> when its window empties, µs), KEYS[3] jobs-rs:rates:conf (hash: key ->
-- "<limit>:<window µs>").
-- ARGV[1] now (epoch µs), or '' for the server's clock (TIME), ARGV[2] the limit,
-- ARGV[3] the window (µs), ARGV[4] the limit's key.
-- Returns { 1, 0 } when granted, { 0, retry at (epoch µs) } when refused.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local limit, per = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - per))
redis.call('HSET', KEYS[3], ARGV[4], ARGV[2] .. ':' .. ARGV[3])
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now),
    'LIMIT', 0, 100)) do
  if key ~= ARGV[4] then
    redis.call('ZREM', KEYS[2], key)
    redis.call('HDEL', KEYS[3], key)
  end
end
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  local id = string.format('%.0f', now)
  local member, i = id, 0
  while redis.call('ZSCORE', KEYS[1], member) do
    i = i + 1
    member = id .. '.' .. i
  end
  redis.call('ZADD', KEYS[1], id, member)
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil(per / 1000)))
  redis.call('ZADD', KEYS[2], 'GT', string.format('%.0f', now + per), ARGV[4])
  return { 1, 0 }
end
local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
return { 0, tonumber(oldest[2]) + per }
