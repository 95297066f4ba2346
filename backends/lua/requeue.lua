-- Give leased jobs back to the head (the right end) of their queues, byte-identical and in
-- the order given (the first item ends up at the very head), so pushed last to first. An
-- item no longer in its in-flight list (rescued, settled) is skipped.
--
-- KEYS[1] queues set, then per item: KEYS[2i] the in-flight list, KEYS[2i+1] queue:<name>.
-- ARGV per item: ARGV[2i-1] raw payload, ARGV[2i] queue name.
-- Returns how many were requeued.
local n = (#KEYS - 1) / 2
local moved = 0
for i = n, 1, -1 do
  local raw = ARGV[2 * i - 1]
  if redis.call('LREM', KEYS[2 * i], -1, raw) > 0 then
    redis.call('RPUSH', KEYS[2 * i + 1], raw)
    redis.call('SADD', KEYS[1], ARGV[2 * i])
    moved = moved + 1
  end
end
return moved
