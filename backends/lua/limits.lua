-- Concurrency-limit helpers, put in front of the scripts that take or free a slot
-- (scripts.rs). <ns>jobs-rs:slots is a hash: lease holder -> "<limit>:<key>", a holder being a
-- lease, that is the in-flight list a job sits in and its exact payload (holder()).
-- <ns>jobs-rs:limits is a hash: key -> slots held, plus WAITS while jobs of the key wait
-- (held = value % WAITS); present while the key has a slot held or a job waiting.
-- <ns>jobs-rs:waiting:<key> lists the jobs moved aside, oldest first, each entry
-- "<byte length of the queue name>:<queue><payload>". Only a payload that contains
-- "jobs_rs_concurrency" is looked at further: decoded when a slot is taken, looked up by
-- holder when one is freed; a plain job costs one string.find.

-- Added to a key's count while jobs wait for it (a limit is below 2^32; the sum stays exact).
local WAITS = 4294967296

-- The concurrency limit a payload names: its key and its limit, or nil for a job without one
-- (or bytes that are not a job, or a limit that does not read as one). Read without decoding
-- when the limit is the payload's last member, with a key free of quotes and backslashes (a
-- job this crate writes with no other extra field sorting after it): the payload's last `}`
-- then closes the object the member is in, the job itself. Else the payload is decoded.
local function limit_of(job)
  local at = string.find(job, '"jobs_rs_concurrency"', 1, true)
  if not at then return nil end
  local key, n = string.match(job,
    '^,"jobs_rs_concurrency":{"key":"([^"\\]*)","limit":(%d+)}}$', at - 1)
  if key then
    n = tonumber(n)
  else
    local ok, j = pcall(cjson.decode, job)
    if not ok or type(j) ~= 'table' or type(j.jobs_rs_concurrency) ~= 'table' then
      return nil
    end
    key, n = j.jobs_rs_concurrency.key, j.jobs_rs_concurrency.limit
  end
  if type(key) ~= 'string' or type(n) ~= 'number' or n ~= math.floor(n) or n < 0
    or n >= WAITS then
    return nil
  end
  if n < 1 then n = 1 end
  return key, n
end

-- The holder of the lease of `job` in the in-flight list `list`.
local function holder(list, job)
  return #list .. ':' .. list .. job
end

-- Keys found full in this script: nothing frees a slot until it ends.
local full = {}

-- Keys whose freed slot this script left to a job it gave back to the head of its queue:
-- that job is on its way to the slot (rescue.lua's sweep leaves these keys alone).
local on_way = {}

-- Takes a slot of `key` (limit `limit`) for holder `h`: true when taken. False when the key is
-- full, or `h` already holds one (the same bytes twice in one in-flight list: one lease in the
-- eyes of every fence); the key is then marked as having jobs waiting, and the caller moves
-- the job aside (wait_aside).
local function take_slot(ns, key, limit, h)
  if full[key] then return false end
  local limits = ns .. 'jobs-rs:limits'
  local v = redis.call('HINCRBY', limits, key, 1)
  local over = v % WAITS > limit
  if over or redis.call('HSETNX', ns .. 'jobs-rs:slots', h, limit .. ':' .. key) == 0 then
    if v < WAITS then
      redis.call('HINCRBY', limits, key, WAITS - 1)
    else
      redis.call('HINCRBY', limits, key, -1)
    end
    if over then full[key] = true end
    return false
  end
  return true
end

-- Moves job `job` of queue `queue` aside, to the tail of its key's waiting list.
local function wait_aside(ns, key, queue, job)
  redis.call('RPUSH', ns .. 'jobs-rs:waiting:' .. key, #queue .. ':' .. queue .. job)
end

-- Pushes the oldest job waiting for `key` back to the head of its queue, as a requeue does;
-- returns what to take off the key's count: WAITS when none is left waiting, else 0.
-- Its entry is kept in <ns>jobs-rs:onway (key -> entry) while others still wait: that job is
-- on its way to the slot, and rescue.lua's sweep sends no other ahead of it (on_its_way).
local function bring_back(ns, key)
  local waiting = ns .. 'jobs-rs:waiting:' .. key
  local entry = redis.call('LPOP', waiting)
  if entry then
    local colon = string.find(entry, ':', 1, true)
    local len = tonumber(string.sub(entry, 1, colon - 1))
    local q = string.sub(entry, colon + 1, colon + len)
    redis.call('RPUSH', ns .. 'queue:' .. q, string.sub(entry, colon + len + 1))
    redis.call('SADD', ns .. 'queues', q)
  end
  if redis.call('EXISTS', waiting) == 0 then
    redis.call('HDEL', ns .. 'jobs-rs:onway', key)
    return WAITS
  end
  redis.call('HSET', ns .. 'jobs-rs:onway', key, entry)
  return 0
end

-- Whether the job last brought back for `key` (or given back holding its slot) still waits in
-- its queue: it is on its way to the key's slot.
local function on_its_way(ns, key)
  local entry = redis.call('HGET', ns .. 'jobs-rs:onway', key)
  if not entry then return false end
  local colon = string.find(entry, ':', 1, true)
  local len = tonumber(string.sub(entry, 1, colon - 1))
  local q = string.sub(entry, colon + 1, colon + len)
  return redis.call('LPOS', ns .. 'queue:' .. q, string.sub(entry, colon + len + 1)) ~= false
end

-- Frees the slot the lease of `job` in the in-flight list `list` holds, if it holds one, and
-- brings the oldest waiting job of its key back to the head of its queue. When the job itself
-- goes back to the head of queue `returning` (a requeue, a rescue, a give-back) and that
-- oldest job waits for the same queue, the job takes its turn instead: the oldest stays
-- first in line, and the two do not race for the slot (a blocking pop of each, say) with the
-- loser moved to the back. A key left with no slot held and no job waiting leaves nothing
-- behind.
local function free_slot(ns, list, job, returning)
  if not string.find(job, '"jobs_rs_concurrency"', 1, true) then return end
  local slots, h = ns .. 'jobs-rs:slots', holder(list, job)
  local value = redis.call('HGET', slots, h)
  if not value then return end
  redis.call('HDEL', slots, h)
  local key = string.sub(value, string.find(value, ':', 1, true) + 1)
  local limits = ns .. 'jobs-rs:limits'
  local v = redis.call('HINCRBY', limits, key, -1)
  if v >= WAITS then
    local first = returning and redis.call('LINDEX', ns .. 'jobs-rs:waiting:' .. key, 0)
    local prefix = returning and (#returning .. ':' .. returning)
    if not first or string.sub(first, 1, #prefix) ~= prefix then
      local gone = bring_back(ns, key)
      if gone > 0 then v = redis.call('HINCRBY', limits, key, -gone) end
    else
      on_way[key] = true
      redis.call('HSET', ns .. 'jobs-rs:onway', key, prefix .. job)
    end
  end
  if v <= 0 then redis.call('HDEL', limits, key) end
end

-- Frees deferred to the end of a script that settles many leases (finish.lua): the same as
-- free_slot for each, in order, with a few commands for the whole batch.
local deferred = {}

-- Defers free_slot(ns, list, job) to free_deferred.
local function free_later(list, job)
  if string.find(job, '"jobs_rs_concurrency"', 1, true) then
    deferred[#deferred + 1] = holder(list, job)
  end
end

-- Frees the slots free_later collected (in slices, so no call takes too many arguments).
local function free_deferred(ns)
  local slots, limits = ns .. 'jobs-rs:slots', ns .. 'jobs-rs:limits'
  for from = 1, #deferred, 500 do
    local part = {}
    for i = from, math.min(from + 499, #deferred) do part[#part + 1] = deferred[i] end
    local values = redis.call('HMGET', slots, unpack(part))
    local held, freed, keys, counts = {}, {}, {}, {}
    for i, value in ipairs(values) do
      if value then
        held[#held + 1] = part[i]
        local key = string.sub(value, string.find(value, ':', 1, true) + 1)
        freed[#freed + 1] = key
        if not counts[key] then
          keys[#keys + 1] = key
          counts[key] = 0
        end
      end
    end
    if #held > 0 then
      redis.call('HDEL', slots, unpack(held))
      for i, v in ipairs(redis.call('HMGET', limits, unpack(keys))) do
        counts[keys[i]] = tonumber(v or '0')
      end
      for _, key in ipairs(freed) do
        local v = counts[key] - 1
        if v >= WAITS then v = v - bring_back(ns, key) end
        counts[key] = v
      end
      local set, drop = {}, {}
      for _, key in ipairs(keys) do
        if counts[key] <= 0 then
          drop[#drop + 1] = key
        else
          set[#set + 1] = key
          set[#set + 1] = string.format('%.0f', counts[key])
        end
      end
      if #drop > 0 then redis.call('HDEL', limits, unpack(drop)) end
      if #set > 0 then redis.call('HSET', limits, unpack(set)) end
    end
  end
  deferred = {}
end
