-- Delete jobs waiting for a slot of one concurrency key (an operator's delete): each entry
-- of ARGV[3..] (exact bytes, as read from the waiting list) is removed once, and the unique
-- lock its payload names, if any, released with it (lock.lua). When the list is left empty
-- the key no longer has jobs waiting: WAITS is taken off its count (the key is dropped
-- when no slot is held either) and its entry in jobs-rs:onway goes, as bring_back does.
-- The slots held and the other waiting jobs are left as they are.
--
-- KEYS[1] jobs-rs:waiting:<key>, KEYS[2] jobs-rs:limits, KEYS[3] jobs-rs:onway.
-- ARGV[1] the key prefix ("" or "<prefix>:"), ARGV[2] the concurrency key, ARGV[3..] the
-- entries. Returns how many entries were removed.
local ns, key = ARGV[1], ARGV[2]
local removed = 0
for i = 3, #ARGV do
  local entry = ARGV[i]
  if redis.call('LREM', KEYS[1], 1, entry) == 1 then
    removed = removed + 1
    local colon = string.find(entry, ':', 1, true)
    local len = colon and tonumber(string.sub(entry, 1, colon - 1))
    if len then release_named(ns, string.sub(entry, colon + len + 1)) end
  end
end
if removed > 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  local v = tonumber(redis.call('HGET', KEYS[2], key) or '0')
  if v >= WAITS then
    if redis.call('HINCRBY', KEYS[2], key, -WAITS) <= 0 then
      redis.call('HDEL', KEYS[2], key)
    end
  end
  redis.call('HDEL', KEYS[3], key)
end
return removed
