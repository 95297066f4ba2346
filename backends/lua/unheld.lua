-- Run in a heartbeat's transaction when the process lists the leases it holds: give back
-- the in-flight jobs it does not hold. A job the store moved into the process's in-flight
-- list whose reserve reply never reached the process (the connection dropped, the server
-- crashed after the write) would otherwise stay there for as long as the process beats.
-- A job found unlisted is only marked (its reply may be on its way); found unlisted again at
-- the next beat, it goes back to the head of its queue, unchanged and uncounted (it never
-- ran), and the process's token for it, should the reply come after all, matches nothing.
-- A job that holds a concurrency slot frees it first (limits.lua).
--
-- KEYS[1] jobs-rs:leased:<p>, KEYS[2] jobs-rs:unheld:<p> (hash: SHA-1 of a payload -> 1),
-- KEYS[3] queues.
-- ARGV[1] the key prefix ("" or "<prefix>:"), ARGV[2] the process id, ARGV[3] the ttl of the
-- marks (seconds), ARGV[4..] the SHA-1 of each payload the process holds.
-- In-flight and queue keys are built from ARGV[1] as the Rust side builds them.
-- Returns how many jobs went back.
local ns, p = ARGV[1], ARGV[2]
local tag = #p .. ':' .. p
local held = {}
for i = 4, #ARGV do held[ARGV[i]] = true end
local marked = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do marked[f] = true end
redis.call('DEL', KEYS[2])
local back = 0
for _, q in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local inflight = ns .. 'jobs-rs:inflight:' .. tag .. ':' .. q
  for _, job in ipairs(redis.call('LRANGE', inflight, 0, -1)) do
    local f = redis.sha1hex(job)
    if not held[f] then
      if marked[f] then
        if redis.call('LREM', inflight, 1, job) == 1 then
          free_slot(ns, inflight, job, q)
          redis.call('RPUSH', ns .. 'queue:' .. q, job)
          redis.call('SADD', KEYS[3], q)
          back = back + 1
        end
      else
        redis.call('HSET', KEYS[2], f, 1)
        redis.call('EXPIRE', KEYS[2], ARGV[3])
      end
    end
  end
end
return back
