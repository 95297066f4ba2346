-- Priority aging: one pass moves every waiting job whose wait earned it a better band into
-- that band's list, byte-identical. A job declared d (jobs_rs_priority) and enqueued at e
-- runs at now in band max(0, d - floor((now - e) / every)) (jobs::backend::AgeParams::aged);
-- its payload keeps its declared priority.
--
-- Layout of jobs-rs:pqueue:<t>:<name> (reserve takes from the right end):
--   [ pushed jobs, newest ... oldest | aged jobs, earliest moved ... latest moved ]
-- A push (LPUSH) adds to the left; a job aging into band t is added at the right (RPUSH),
-- so it runs ahead of every job of the band, the latest pass's first (within one pass the
-- oldest first); into band 0 it goes to the right of queue:<name>, as Sidekiq's client
-- would take it next. Only this script adds to the right of a priority list, and reserve
-- only takes from it, so the jobs aged into band t are always the rightmost run of its
-- list. The set jobs-rs:aged:<t>:<name> holds the SHA-1 of the payload of every job this
-- script moved into band t: a job taken by a reserve (or deleted) since leaves a stale
-- member, which the pass drops once they outnumber the live ones, or with the set once no
-- aged job is left in the band. jobs-rs:aged-queues names the queues that have such sets,
-- so they are looked at even after the queue left jobs-rs:pqueues.
--
-- Both runs of a band come due in order: a pushed job climbs once it waited one step, the
-- first pushed first; an aged job one step after it arrived, the earliest moved first. So
-- the jobs that move out of band t sit together around the boundary of the two runs, and
-- the pass reads from there outwards, each way up to the first job that stays: it reads
-- the jobs that move plus at most two per band, and finds the boundary by bisection
-- (membership of the SHA-1 in the set), never reading a whole list. (A job of one pass
-- that comes due a moment after a younger one of the same pass, at most the time between
-- passes, stops the read there; both move at the next pass.) Movers are overwritten with a
-- marker in place (LSET) and removed in one LREM from the right. A job with a unique lock
-- has its lock's place updated (lock.lua `moved`), so a replacing push still finds it.
--
-- KEYS[1] jobs-rs:pqueues (the queues with prioritized jobs waiting), KEYS[2] queues.
-- ARGV[1] the key prefix ("" or "<prefix>:"; the lists, the aged sets and
-- jobs-rs:aged-queues are named from it), ARGV[2] now (epoch s), ARGV[3] seconds per step
-- (> 0).
-- Returns how many jobs moved.
local ns, now, every = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
-- Never a payload: payloads are JSON objects.
local MARK = '\0jobs-rs:aging\0'
local count = 0

-- A payload's declared priority (as JobEnvelope::priority reads it) and enqueue time, or
-- nil for bytes that are not a job with an enqueue time.
local function read(raw)
  local ok, j = pcall(cjson.decode, raw)
  if not ok or type(j) ~= 'table' or type(j.enqueued_at) ~= 'number' then return nil end
  local p = j.jobs_rs_priority
  if type(p) ~= 'number' or p < 0 or p ~= math.floor(p) then
    p = 0
  elseif p > 9 then
    p = 9
  end
  return p, j.enqueued_at
end

-- The band a job declared `d`, enqueued at `at`, runs in now.
local function target(d, at)
  local waited = now - at
  if waited < 0 then waited = 0 end
  local steps = math.floor(waited / every)
  if steps >= d then return 0 end
  return d - steps
end

-- Whether element -i of `list` was aged into it (its SHA-1 is in `set`).
local function aged_at(list, set, i)
  local raw = redis.call('LINDEX', list, -i)
  return raw and redis.call('SISMEMBER', set, redis.sha1hex(raw)) == 1
end

-- How many elements at the right end of `list` were aged into it, at most `hi`.
local function boundary(list, set, hi)
  if hi < 1 or not aged_at(list, set, 1) then return 0 end
  if aged_at(list, set, hi) then return hi end
  local lo = 1
  while hi - lo > 1 do
    local mid = math.floor((lo + hi) / 2)
    if aged_at(list, set, mid) then lo = mid else hi = mid end
  end
  return lo
end

-- The queues with prioritized jobs waiting, and those with an aged set left (a reserve
-- that empties every priority list of a queue drops it from jobs-rs:pqueues).
local tracked = ns .. 'jobs-rs:aged-queues'
local names, seen = {}, {}
for _, key in ipairs({ KEYS[1], tracked }) do
  for _, name in ipairs(redis.call('SMEMBERS', key)) do
    if not seen[name] then
      seen[name] = true
      names[#names + 1] = name
    end
  end
end

for _, name in ipairs(names) do
  local movers = {}
  local sets = {}
  for t = 1, 9 do
    local list = ns .. 'jobs-rs:pqueue:' .. t .. ':' .. name
    local set = ns .. 'jobs-rs:aged:' .. t .. ':' .. name
    sets[t] = set
    local len = redis.call('LLEN', list)
    local members = redis.call('SCARD', set)
    local a = 0
    if members > 0 then
      a = boundary(list, set, math.min(members, len))
      if a == 0 then
        redis.call('DEL', set)
      elseif members - a > math.max(64, a) then
        -- Mostly stale: keep the members of the jobs still there.
        redis.call('DEL', set)
        local part = redis.call('LRANGE', list, -a, -1)
        for from = 1, #part, 1000 do
          local batch = {}
          for i = from, math.min(from + 999, #part) do batch[#batch + 1] = redis.sha1hex(part[i]) end
          redis.call('SADD', set, unpack(batch))
        end
      end
    end
    if len > 0 then
      local out = {}
      -- Element -i moves to band `to`, or the read stops at it.
      local function visit(i, raw, aged)
        local d, at = read(raw)
        if not d then return true end
        local to = target(d, at)
        if to >= t then return false end
        out[#out + 1] = { i = i, raw = raw, to = to, at = at, aged = aged }
        return true
      end
      -- Aged jobs, earliest moved first: from -a to the right.
      local i, size = a, 4
      while i >= 1 do
        local last = math.max(i - size + 1, 1)
        local part = redis.call('LRANGE', list, -i, -last)
        local going = true
        for j = 1, #part do
          if not visit(i - j + 1, part[j], true) then going = false break end
        end
        if not going then break end
        i, size = last - 1, math.min(size * 4, 256)
      end
      -- Pushed jobs, first pushed first: from -(a + 1) to the left.
      i, size = a + 1, 4
      while i <= len do
        local last = math.min(i + size - 1, len)
        local part = redis.call('LRANGE', list, -last, -i)
        local going = true
        for j = #part, 1, -1 do
          if not visit(i + #part - j, part[j], false) then going = false break end
        end
        if not going then break end
        i, size = last + 1, math.min(size * 4, 256)
      end
      if #out > 0 then
        for _, m in ipairs(out) do redis.call('LSET', list, -m.i, MARK) end
        redis.call('LREM', list, -#out, MARK)
        local left = a
        for _, m in ipairs(out) do
          if m.aged then
            left = left - 1
            if left > 0 then redis.call('SREM', set, redis.sha1hex(m.raw)) end
          end
          m.seq = #movers + 1
          movers[#movers + 1] = m
        end
        -- Every job aged into the band left it: what the set still holds is stale.
        if a > 0 and left == 0 then redis.call('DEL', set) end
      end
    end
  end
  if #movers > 0 then
    -- Pushed on the right end youngest first, so the oldest ends up nearest the head; of
    -- two enqueued together, the one found first (ahead in the queue) stays ahead.
    table.sort(movers, function(x, y)
      if x.to ~= y.to then return x.to < y.to end
      if x.at ~= y.at then return x.at > y.at end
      return x.seq > y.seq
    end)
    for _, m in ipairs(movers) do
      local dst
      if m.to == 0 then
        dst = ns .. 'queue:' .. name
        redis.call('RPUSH', dst, m.raw)
        redis.call('SADD', KEYS[2], name)
      else
        dst = ns .. 'jobs-rs:pqueue:' .. m.to .. ':' .. name
        redis.call('RPUSH', dst, m.raw)
        redis.call('SADD', ns .. 'jobs-rs:aged:' .. m.to .. ':' .. name, redis.sha1hex(m.raw))
        redis.call('SADD', KEYS[1], name)
      end
      local key, jid = lock_of(m.raw)
      if key then moved(ns .. 'jobs-rs:unique:' .. key, jid, 'l', dst, m.raw) end
      count = count + 1
    end
  end
  if redis.call('EXISTS', unpack(sets)) > 0 then
    redis.call('SADD', tracked, name)
  else
    redis.call('SREM', tracked, name)
  end
end
return count
