-- Push jobs that have a unique lock or a priority (a push of plain jobs only never comes
-- here: push.rs sends it as Sidekiq's client does). All jobs of the push, plain ones too, are
-- stored in this one atomic step, in order, so the second of two jobs with one key is a
-- duplicate of the first.
--
-- Per job: a unique lock is HELD when its hash exists, names another jid and has not lapsed
-- (exp > now). Held: with replace, the holder is deleted if it waits where its lock says (the
-- list or sorted set `place`, by its exact bytes `raw`), or, with the same bytes, at its
-- queue's head (a requeue or rescue put it back there unchanged) or among the jobs moved
-- aside for its concurrency key's slot (limits.lua, whose helpers this script starts with:
-- the key loses its waiting mark with its last such job); the job is stored and takes
-- the lock. Otherwise (no replace, or the holder is running, leased, dead or gone) nothing is
-- stored and the holder's jid is reported. Not held: the job is stored and takes the lock:
-- HSET of the lock hash (jid, class, queue, until, exp, where it waits), PEXPIREAT at exp (a
-- lock never outlives its lapse, whatever becomes of its job) and ZADD to the index.
-- Where a job goes: `at` set -> schedule (ZADD); priority 0 -> queue:<name> (LPUSH, as
-- Sidekiq); priority p in 1..9 -> jobs-rs:pqueue:<p>:<name> (LPUSH), its queue added to
-- jobs-rs:pqueues, and the ids of the blocking connections waiting on queue:<name>
-- (jobs-rs:sleepers:<name>) returned so the caller wakes them (CLIENT UNBLOCK): a blocking
-- pop only watches queue:<name>.
--
-- KEYS[1] queues, KEYS[2] schedule, KEYS[3] jobs-rs:pqueues, KEYS[4] jobs-rs:uniques,
-- KEYS[5] jobs-rs:rescues.
-- ARGV[1] the key prefix ("" or "<prefix>:"), ARGV[2] now (epoch s), ARGV[3] 1 to replace
-- waiting holders, 0 to skip duplicates; then per job a header `<kind><priority><u>` (kind q =
-- to a queue, z = scheduled; u = 'u' when the job has a lock, '-' when not), the payload, the
-- queue name and the score (scheduled jobs; '' otherwise), and for a locked job its key,
-- until, expires_at (epoch s), jid and class.
-- Returns { {index, holder jid, ...} duplicates, {index, holder jid, ...} replaced,
-- {client id, ...} to wake } (indexes 0-based); or, when ARGV[3] ends in 's' (a push of one
-- job on a pooled connection that reads one-line replies), the same as one status line:
-- `ok`, then ` d <holder>` or ` r <replaced>` (the jid in hex, so any bytes fit the line),
-- then ` w <client id>` per connection to wake.
local ns, now = ARGV[1], tonumber(ARGV[2])
local replace, status = string.sub(ARGV[3], 1, 1) == '1', string.sub(ARGV[3], 2, 2) == 's'
local dups, replaced, wake = {}, {}, {}
local woken = {}

-- Deletes the waiting holder described by the lock hash fields `h` (in, place, raw, queue);
-- whether it was there.
local function take_waiting(h)
  local kind, place, raw, queue = h[3], h[4], h[5], h[6]
  if not raw then return false end
  local n = 0
  if kind == 'z' then
    n = redis.call('ZREM', place, raw)
  elseif place then
    n = redis.call('LREM', place, -1, raw)
  end
  if n == 0 and queue then
    local head = ns .. 'queue:' .. queue
    if place ~= head then n = redis.call('LREM', head, -1, raw) end
  end
  if n == 0 and queue and kind ~= 'z' then
    -- Moved aside for a concurrency slot (limits.lua): it has not started either.
    local ckey = limit_of(raw)
    if ckey then
      local waiting = ns .. 'jobs-rs:waiting:' .. ckey
      n = redis.call('LREM', waiting, 1, #queue .. ':' .. queue .. raw)
      if n > 0 and redis.call('EXISTS', waiting) == 0 then
        local limits = ns .. 'jobs-rs:limits'
        if (tonumber(redis.call('HGET', limits, ckey) or '0')) >= WAITS
          and redis.call('HINCRBY', limits, ckey, -WAITS) <= 0 then
          redis.call('HDEL', limits, ckey)
        end
        redis.call('HDEL', ns .. 'jobs-rs:onway', ckey)
      end
    end
  end
  if n > 0 and kind ~= 'z' and redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('HDEL', KEYS[5], redis.sha1hex(raw))
  end
  return n > 0
end

-- Writes that need no answer are gathered and sent once per key at the end: LPUSHes per list
-- (in push order, so a list gets them in the order of one LPUSH per job), SADDs of queue
-- names, the lock index's ZADD. Before a replace looks for a holder in a list, the gathered
-- LPUSHes go out, so an earlier job of this push is found where it waits.
local pushes, places, named, index_pairs = {}, {}, {}, {}
local function flush()
  for _, place in ipairs(places) do
    local list = pushes[place]
    for i = 1, #list, 4000 do
      redis.call('LPUSH', place, unpack(list, i, math.min(i + 3999, #list)))
    end
  end
  pushes, places = {}, {}
end

-- Whether any lock key of the push exists: when none does (the common case: new keys),
-- a lock is looked up only for a key an earlier job of the push took.
local lock_keys = {}
do
  local a = 4
  while a <= #ARGV do
    local locked = string.sub(ARGV[a], 3, 3) == 'u'
    a = a + 4
    if locked then
      lock_keys[#lock_keys + 1] = ns .. 'jobs-rs:unique:' .. ARGV[a]
      a = a + 5
    end
  end
end
local any_held = false
for i = 1, #lock_keys, 4000 do
  if redis.call('EXISTS', unpack(lock_keys, i, math.min(i + 3999, #lock_keys))) > 0 then
    any_held = true
    break
  end
end
if #lock_keys > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
end
local taken = {}

local a, index = 4, 0
while a <= #ARGV do
  local head, payload, queue, at = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local kind, prio, locked = string.sub(head, 1, 1), string.sub(head, 2, 2), string.sub(head, 3, 3) == 'u'
  a = a + 4
  local store = true
  local key, untl, exp, jid, class, lk, fresh
  if locked then
    key, untl, exp, jid, class = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    a = a + 5
    lk = ns .. 'jobs-rs:unique:' .. key
    fresh = not any_held and not taken[key]
    if not fresh then
      local h = redis.call('HMGET', lk, 'jid', 'exp', 'in', 'place', 'raw', 'queue')
      if h[1] and h[1] ~= jid and (tonumber(h[2]) or 0) > now then
        if replace then flush() end
        if replace and take_waiting(h) then
          replaced[#replaced + 1] = index
          replaced[#replaced + 1] = h[1]
        else
          dups[#dups + 1] = index
          dups[#dups + 1] = h[1]
          store = false
        end
      end
    end
  end
  if store then
    local place, pkind
    if kind == 'z' then
      place, pkind = KEYS[2], 'z'
      redis.call('ZADD', place, at, payload)
    else
      pkind = 'l'
      if prio == '0' then
        place = ns .. 'queue:' .. queue
      else
        place = ns .. 'jobs-rs:pqueue:' .. prio .. ':' .. queue
        redis.call('SADD', KEYS[3], queue)
        if not woken[queue] then
          woken[queue] = true
          local sleepers = ns .. 'jobs-rs:sleepers:' .. queue
          local t = redis.call('TIME')
          for _, id in ipairs(redis.call('ZRANGEBYSCORE', sleepers, t[1], '+inf')) do
            wake[#wake + 1] = id
          end
        end
      end
      local list = pushes[place]
      if not list then
        list = {}
        pushes[place] = list
        places[#places + 1] = place
      end
      list[#list + 1] = payload
      if not named[queue] then
        named[queue] = true
        redis.call('SADD', KEYS[1], queue)
      end
    end
    if locked then
      if not fresh then redis.call('DEL', lk) end
      taken[key] = true
      redis.call('HSET', lk, 'jid', jid, 'class', class, 'queue', queue, 'until', untl,
        'exp', exp, 'in', pkind, 'place', place, 'raw', payload)
      -- Capped at the year 9999, which PEXPIREAT still takes.
      local ms = math.max(0, math.min(math.floor(tonumber(exp) * 1000), 253402300799000))
      redis.call('PEXPIREAT', lk, string.format('%d', ms))
      index_pairs[#index_pairs + 1] = exp
      index_pairs[#index_pairs + 1] = key
    end
  end
  index = index + 1
end
flush()
for i = 1, #index_pairs, 4000 do
  redis.call('ZADD', KEYS[4], unpack(index_pairs, i, math.min(i + 3999, #index_pairs)))
end
if status then
  local function hex(jid)
    return (string.gsub(jid, '.', function(c) return string.format('%02x', string.byte(c)) end))
  end
  local line = { 'ok' }
  for i = 2, #dups, 2 do line[#line + 1] = 'd ' .. hex(dups[i]) end
  for i = 2, #replaced, 2 do line[#line + 1] = 'r ' .. hex(replaced[i]) end
  for _, id in ipairs(wake) do line[#line + 1] = 'w ' .. id end
  return redis.status_reply(table.concat(line, ' '))
end
return { dups, replaced, wake }
