-- Replace a leased job's in-flight record with the same job carrying its step progress (a
-- checkpoint), fenced as finish.lua fences a settle: the token's epoch must be its process's
-- current one, and the exact old payload must still be in the in-flight list. The record
-- keeps its place in the list (LSET). The checkpoint is progress, so a job that had been
-- rescued has its rescue count cleared (it is keyed by the payload's SHA-1, which changes
-- anyway). A job holding a concurrency slot keeps it: the slot's holder (list and payload,
-- limits.lua) is renamed to the new payload.
--
-- KEYS[1] the in-flight list, KEYS[2] jobs-rs:epoch:<n>:<process>, KEYS[3] jobs-rs:rescues,
-- KEYS[4] jobs-rs:slots.
-- ARGV[1] the token's epoch, ARGV[2] the old payload, ARGV[3] the new payload,
-- ARGV[4] 1 when the job had a rescue count, else 0.
-- Returns 1 when replaced, 0 when the lease was lost (nothing written).
local epoch = redis.call('GET', KEYS[2]) or '0'
if epoch ~= ARGV[1] then return 0 end
local pos = redis.call('LPOS', KEYS[1], ARGV[2])
if not pos then return 0 end
redis.call('LSET', KEYS[1], pos, ARGV[3])
if ARGV[4] == '1' then
  redis.call('HDEL', KEYS[3], redis.sha1hex(ARGV[2]))
end
if string.find(ARGV[2], '"jobs_rs_concurrency"', 1, true) then
  local old = holder(KEYS[1], ARGV[2])
  local v = redis.call('HGET', KEYS[4], old)
  if v then
    redis.call('HDEL', KEYS[4], old)
    redis.call('HSET', KEYS[4], holder(KEYS[1], ARGV[3]), v)
  end
end
return 1
