-- Clear a queue in one atomic step: queue:<name> and its priority lists
-- (jobs-rs:pqueue:<p>:<name>) are deleted and the queue forgotten (queues, jobs-rs:pqueues).
-- When any unique lock is held (jobs-rs:uniques exists), each job's lock is released first
-- (lock.lua: compare-and-delete, so a lock another job took since stays), reading the lists
-- in slices of 1000.
--
-- KEYS[1] queue:<name>, KEYS[2] queues, KEYS[3] jobs-rs:pqueues, KEYS[4] jobs-rs:uniques.
-- ARGV[1] the key prefix ("" or "<prefix>:"), ARGV[2] the queue name.
-- Returns how many jobs were deleted.
local ns, name = ARGV[1], ARGV[2]
local lists = { KEYS[1] }
for p = 1, 9 do lists[#lists + 1] = ns .. 'jobs-rs:pqueue:' .. p .. ':' .. name end
local locks = redis.call('EXISTS', KEYS[4]) == 1
local n = 0
for _, list in ipairs(lists) do
  local len = redis.call('LLEN', list)
  if locks then
    for from = 0, len - 1, 1000 do
      for _, job in ipairs(redis.call('LRANGE', list, from, from + 999)) do
        release_named(ns, job, false)
      end
    end
  end
  if len > 0 then redis.call('DEL', list) end
  n = n + len
end
redis.call('SREM', KEYS[2], name)
redis.call('SREM', KEYS[3], name)
return n
