-- Give leased jobs back to the head (the right end) of their queues, byte-identical and in
-- the order given (the first item ends up at the very head), so pushed last to first. An
-- item whose lease is no longer held is skipped: its token's epoch is not its process's
-- current one (the process was rescued since), or it is not in its in-flight list (settled).
--
-- KEYS[1] queues set, then per item: KEYS[3i-1] the in-flight list, KEYS[3i] queue:<name>,
-- KEYS[3i+1] jobs-rs:epoch:<n>:<process>.
-- ARGV per item: ARGV[3i-2] raw payload, ARGV[3i-1] queue name, ARGV[3i] the token's epoch.
-- A job that holds a concurrency slot frees it first (limits.lua; the key prefix is KEYS[1]
-- without its "queues"), so a waiting job it brings back ends up behind it.
-- Returns how many were requeued.
local ns = string.sub(KEYS[1], 1, -7)
local n = (#KEYS - 1) / 3
local moved = 0
for i = n, 1, -1 do
  local raw = ARGV[3 * i - 2]
  local epoch = redis.call('GET', KEYS[3 * i + 1]) or '0'
  if epoch == ARGV[3 * i] and redis.call('LREM', KEYS[3 * i - 1], -1, raw) > 0 then
    free_slot(ns, KEYS[3 * i - 1], raw, ARGV[3 * i - 1])
    redis.call('RPUSH', KEYS[3 * i], raw)
    redis.call('SADD', KEYS[1], ARGV[3 * i - 1])
    moved = moved + 1
  end
end
return moved
