-- Reserve up to `limit` jobs for one process, atomically: each job moves from the head (the
-- right end) of its queue list into the process's in-flight list for that queue (LMOVE), so a
-- job is always in exactly one list and a crash between steps cannot lose it.
-- Per queue, queue:<name> (Sidekiq's list: priority 0, and every job put back by a requeue or
-- a rescue) is taken first, then, only for a queue in jobs-rs:pqueues (it has prioritized jobs
-- waiting), jobs-rs:pqueue:<p>:<name> for p = 1..9; a queue found with none left is dropped
-- from that set. A job taken whose unique lock is held until it starts has its lock released
-- here, in the same step (lock.lua; only payloads naming a lock are decoded).
-- A job with a concurrency limit takes a slot of its key for its lease (limits.lua); when the
-- key is full it is moved aside to the key's waiting list instead, not counted against the
-- limit, and the reserve goes on. At most ASIDE_BUDGET jobs are moved aside per run, so a
-- run stays short; a run that stops there says so (busy), and the caller runs again.
--
-- KEYS[1]  jobs-rs:paused           set of paused queue names
-- KEYS[2]  jobs-rs:leases           zset: process id -> lease expiry (epoch seconds)
-- KEYS[3]  jobs-rs:leased:<p>       set of queue names this process has in-flight lists for
-- KEYS[4]  jobs-rs:rescues          hash: SHA-1 of a payload -> times it was rescued
-- KEYS[5]  jobs-rs:epoch:<p>        the process's lease epoch (absent: 0), raised by rescues
-- KEYS[6]  jobs-rs:pqueues          set of the queues with prioritized jobs waiting
-- KEYS[5+2i] queue:<name i>         the queue, for i = 1..n
-- KEYS[6+2i] jobs-rs:inflight:<p>:<name i>
-- ARGV[1] limit, ARGV[2] lease expiry (see lease_time), ARGV[3] process id,
-- ARGV[4] block rotation: when nothing is taken, 0 = return at once; k > 0 = register the
--         k-th (mod n) open queue for a blocking LMOVE and return its index,
-- ARGV[5] the key prefix ("" or "<prefix>:"; the priority lists and locks are named from it),
-- ARGV[5+i] queue name i.
-- Returns { {i, payload, i, payload, ...}, block index or 0, number of open queues,
-- rescues, epoch, busy }: rescues is empty when no job has been rescued (the usual case:
-- nothing is hashed), else the rescue count of each job taken, in order; epoch is the
-- process's lease epoch, which the tokens of the jobs taken (and of a job the blocking pop
-- moves) carry; busy is 1 when the run stopped at its budget of jobs moved aside.
local limit = tonumber(ARGV[1])
local nq = (#KEYS - 6) / 2
local ns = ARGV[5]
-- Only when some queue has prioritized jobs is any queue looked up in the set.
local prioritized = redis.call('EXISTS', KEYS[6]) == 1
local out = {}
local rescues = {}
local counting = redis.call('EXISTS', KEYS[4]) == 1
local taken = 0
local open = {}
local ASIDE_BUDGET = 500
local aside = 0
-- Moves jobs from `src` into `dst` (for queue i) while the limit allows; how many.
local function take(src, dst, i)
  local got = 0
  while taken < limit and aside < ASIDE_BUDGET do
    local job = redis.call('LMOVE', src, dst, 'RIGHT', 'LEFT')
    if not job then break end
    local key, most = limit_of(job)
    if key and not take_slot(ns, key, most, holder(dst, job)) then
      redis.call('LPOP', dst)
      wait_aside(ns, key, ARGV[5 + i], job)
      aside = aside + 1
    else
      out[#out + 1] = i
      out[#out + 1] = job
      if counting then
        rescues[#rescues + 1] = tonumber(redis.call('HGET', KEYS[4], redis.sha1hex(job)) or '0')
      end
      release_named(ns, job, true)
      taken = taken + 1
      got = got + 1
    end
  end
  return got
end
for i = 1, nq do
  local name = ARGV[5 + i]
  if redis.call('SISMEMBER', KEYS[1], name) == 0 then
    open[#open + 1] = i
    if taken < limit and aside < ASIDE_BUDGET then
      local dst = KEYS[6 + 2 * i]
      local got = take(KEYS[5 + 2 * i], dst, i)
      if taken < limit and prioritized and redis.call('SISMEMBER', KEYS[6], name) == 1 then
        for p = 1, 9 do
          got = got + take(ns .. 'jobs-rs:pqueue:' .. p .. ':' .. name, dst, i)
        end
        -- Stopped short of the limit and the budget: every priority list of the queue is
        -- empty.
        if taken < limit and aside < ASIDE_BUDGET then redis.call('SREM', KEYS[6], name) end
      end
      if got > 0 then redis.call('SADD', KEYS[3], name) end
    end
  end
end
local block = 0
local rotation = tonumber(ARGV[4])
local busy = 0
if aside >= ASIDE_BUDGET then busy = 1 end
if taken == 0 and busy == 0 and rotation > 0 and #open > 0 then
  block = open[((rotation - 1) % #open) + 1]
  -- Registered before the blocking LMOVE, so a job it moves is always found by a rescue.
  redis.call('SADD', KEYS[3], ARGV[5 + block])
end
local epoch = 0
if taken > 0 or block > 0 then
  redis.call('ZADD', KEYS[2], 'GT', lease_time(ARGV[2]), ARGV[3])
  epoch = tonumber(redis.call('GET', KEYS[5]) or '0')
end
return { out, block, #open, rescues, epoch, busy }
