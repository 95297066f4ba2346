-- A page of a queue in the order its jobs run: queue:<name> (Sidekiq's list, priority 0 and
-- jobs put back by requeues and rescues) from its head, then each priority list
-- (jobs-rs:pqueue:<p>:<name>, p = 1..9) from its head. Every list takes pushes on the left
-- and is taken from the right, so its head is its right end.
--
-- KEYS[1..n] the lists in run order.
-- ARGV[1] how many jobs to skip, ARGV[2] the most to return.
-- Returns { total, {list index (1-based), payload, ...} }: total counts every list.
local skip, want = tonumber(ARGV[1]), tonumber(ARGV[2])
local sizes, total = {}, 0
for i = 1, #KEYS do
  sizes[i] = redis.call('LLEN', KEYS[i])
  total = total + sizes[i]
end
local out = {}
for i = 1, #KEYS do
  if want <= 0 then break end
  local n = sizes[i]
  if skip >= n then
    skip = skip - n
  elseif n > 0 then
    local take = math.min(n - skip, want)
    -- Positions counted from the right end: the head is -1.
    local part = redis.call('LRANGE', KEYS[i], -(skip + take), -(skip + 1))
    for j = #part, 1, -1 do
      out[#out + 1] = i
      out[#out + 1] = part[j]
    end
    want = want - take
    skip = 0
  end
end
return { total, out }
