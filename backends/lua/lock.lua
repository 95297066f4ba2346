-- Unique-lock helpers, put in front of the scripts that release or move a locked job
-- (scripts.rs concatenates them). A lock is the hash <ns>jobs-rs:unique:<key> (fields jid,
-- class, queue, until, exp, in, place, raw; PEXPIREAT at exp) plus its entry key -> exp in the
-- zset <ns>jobs-rs:uniques. Only jobs whose payload names a lock pay for any of this: a payload
-- is decoded only when it contains "jobs_rs_unique" (a plain find, no pattern).

-- The lock a payload names: its key, the job's jid and `until` ("start" or "success"), or nil
-- for a job without one (or bytes that are not a job).
local function lock_of(job)
  if not string.find(job, 'jobs_rs_unique', 1, true) then return nil end
  local ok, j = pcall(cjson.decode, job)
  if not ok or type(j) ~= 'table' or type(j.jobs_rs_unique) ~= 'table' then return nil end
  local u = j.jobs_rs_unique
  if type(u.key) ~= 'string' or type(j.jid) ~= 'string' then return nil end
  return u.key, j.jid, u['until']
end

-- Compare-and-delete: drops the lock hash `lk` (of lock `key`, indexed in the zset `index`)
-- only while job `jid` holds it, never another job's. Returns 1 when it was dropped.
local function release(lk, index, key, jid)
  if redis.call('HGET', lk, 'jid') ~= jid then return 0 end
  redis.call('DEL', lk)
  redis.call('ZREM', index, key)
  return 1
end

-- Records where job `jid`, holder of lock `lk`, now waits: `kind` 'l' (a list) or 'z' (a
-- sorted set), the key `place` and its exact bytes `raw`, so a push that replaces it can
-- remove it. Nothing when another job holds the lock.
local function moved(lk, jid, kind, place, raw)
  if redis.call('HGET', lk, 'jid') == jid then
    redis.call('HSET', lk, 'in', kind, 'place', place, 'raw', raw)
  end
end

-- Releases the lock a payload names (scripts that know the key prefix `ns`), or, with `start`,
-- only a lock held until the job starts.
local function release_named(ns, job, start)
  local key, jid, untl = lock_of(job)
  if key and (not start or untl == 'start') then
    return release(ns .. 'jobs-rs:unique:' .. key, ns .. 'jobs-rs:uniques', key, jid)
  end
  return 0
end
