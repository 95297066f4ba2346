-- Change an existing schedule's hash; nothing happens to a schedule that does not exist.
--
-- KEYS[1] the schedule's hash
-- ARGV[1] 'advance' (raise next_run to ARGV[2], never lower it) or 'enable' (set enabled
-- to ARGV[2], '1' or '0').
-- Returns 1 when the schedule exists, else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[1] == 'advance' then
  local next_run = tonumber(redis.call('HGET', KEYS[1], 'next_run') or '')
  if next_run == nil or tonumber(ARGV[2]) > next_run then
    redis.call('HSET', KEYS[1], 'next_run', ARGV[2])
  end
else
  redis.call('HSET', KEYS[1], 'enabled', ARGV[2])
end
return 1
