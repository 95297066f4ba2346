-- Concurrency-limit helpers, put in front of the scripts that take or free a slot
-- (scripts.rs). A key's slots are the hash <ns>jobs-rs:slots:<key> (holder -> jid), its jobs
-- moved aside the list <ns>jobs-rs:waiting:<key> (oldest first, each entry
-- "<byte length of the queue name>:<queue><payload>"), and <ns>jobs-rs:limits indexes the
-- keys in use (key -> limit, as the last job taken declared it). A holder is a lease: the
-- in-flight list the job sits in, '#', the SHA-1 of its payload. Only payloads that contain
-- "jobs_rs_concurrency" are decoded; a plain job costs one string.find.

-- The concurrency limit a payload names: its key, its limit and the job's jid, or nil for a
-- job without one (or bytes that are not a job, or a limit that does not read as one).
local function limit_of(job)
  if not string.find(job, '"jobs_rs_concurrency"', 1, true) then return nil end
  local ok, j = pcall(cjson.decode, job)
  if not ok or type(j) ~= 'table' or type(j.jobs_rs_concurrency) ~= 'table' then return nil end
  local c = j.jobs_rs_concurrency
  local n = c.limit
  if type(c.key) ~= 'string' or type(n) ~= 'number' or n ~= math.floor(n) or n < 0
    or n > 4294967295 then
    return nil
  end
  if n < 1 then n = 1 end
  return c.key, n, tostring(j.jid)
end

-- Pushes a waiting entry back to the head of its queue, as a requeue does.
local function bring_back(ns, entry)
  local colon = string.find(entry, ':', 1, true)
  local len = tonumber(string.sub(entry, 1, colon - 1))
  local q = string.sub(entry, colon + 1, colon + len)
  redis.call('RPUSH', ns .. 'queue:' .. q, string.sub(entry, colon + len + 1))
  redis.call('SADD', ns .. 'queues', q)
end

-- Takes a slot of `key` (limit `limit`) for `holder`: true when taken. False when the key is
-- full, or the holder already holds one (the same bytes twice in one in-flight list: one
-- lease in the eyes of every fence), and the caller moves the job aside. A key that still has
-- room after the take while jobs wait (its limit was raised, or a job brought back was
-- deleted) brings its oldest waiting job back too.
local function take_slot(ns, key, limit, holder, jid)
  local slots = ns .. 'jobs-rs:slots:' .. key
  redis.call('HSET', ns .. 'jobs-rs:limits', key, limit)
  if redis.call('HEXISTS', slots, holder) == 1 or redis.call('HLEN', slots) >= limit then
    return false
  end
  redis.call('HSET', slots, holder, jid)
  if redis.call('HLEN', slots) < limit then
    local back = redis.call('LPOP', ns .. 'jobs-rs:waiting:' .. key)
    if back then bring_back(ns, back) end
  end
  return true
end

-- Moves job `job` of queue `queue` aside, to the tail of its key's waiting list.
local function wait_aside(ns, key, queue, job)
  redis.call('RPUSH', ns .. 'jobs-rs:waiting:' .. key, #queue .. ':' .. queue .. job)
end

-- Frees the slot the lease of `job` in the in-flight list `list` holds, if it holds one, and
-- brings the oldest waiting job of its key back to the head of its queue. A key left with no
-- slot held and no job waiting leaves nothing behind.
local function free_slot(ns, list, job)
  local key = limit_of(job)
  if not key then return end
  local slots = ns .. 'jobs-rs:slots:' .. key
  if redis.call('HDEL', slots, list .. '#' .. redis.sha1hex(job)) == 0 then return end
  local waiting = ns .. 'jobs-rs:waiting:' .. key
  local back = redis.call('LPOP', waiting)
  if back then bring_back(ns, back) end
  if redis.call('EXISTS', slots) == 0 and redis.call('EXISTS', waiting) == 0 then
    redis.call('HDEL', ns .. 'jobs-rs:limits', key)
  end
end
