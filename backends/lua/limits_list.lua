-- The limits in use, for the dashboard: every concurrency key in jobs-rs:limits with a slot
-- held or a job waiting, and every rate key whose window holds a start at `now`. Unsorted
-- (the caller sorts by key, bytewise, and pages). A concurrency key's limit is the one its
-- newest waiting job declares, or, none waiting, the largest its holders declare.
-- Put after limits.lua (scripts.rs).
--
-- KEYS[1] jobs-rs:limits (hash: key -> slots held, + WAITS), KEYS[2] jobs-rs:rates (zset: key ->
-- window end, µs), KEYS[3] jobs-rs:rates:conf (hash: key -> "<limit>:<window µs>"),
-- KEYS[4] jobs-rs:slots (hash: holder -> "<limit>:<key>").
-- ARGV[1] the key prefix, ARGV[2] now (epoch µs), or '' for the server's clock (TIME).
-- Returns { {key, limit, in use, waiting, ...}, {key, limit, window µs, starts in the
-- window, 1 and frees at (µs) when full else 0 and 0, ...} }.
local ns = ARGV[1]
local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[2])
end
local declared = {}
for _, v in ipairs(redis.call('HVALS', KEYS[4])) do
  local colon = string.find(v, ':', 1, true)
  local key, limit = string.sub(v, colon + 1), tonumber(string.sub(v, 1, colon - 1))
  if not declared[key] or declared[key] < limit then declared[key] = limit end
end
local conc = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local key = all[i]
  local used = tonumber(all[i + 1]) % WAITS
  local waiting = ns .. 'jobs-rs:waiting:' .. key
  local n = redis.call('LLEN', waiting)
  if used > 0 or n > 0 then
    local limit = declared[key]
    if n > 0 then
      local entry = redis.call('LINDEX', waiting, -1)
      local colon = string.find(entry, ':', 1, true)
      local len = tonumber(string.sub(entry, 1, colon - 1))
      local _, l = limit_of(string.sub(entry, colon + len + 1))
      limit = l or limit
    end
    conc[#conc + 1] = key
    conc[#conc + 1] = limit or 1
    conc[#conc + 1] = used
    conc[#conc + 1] = n
  end
end
local rates = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%.0f', now),
    '+inf')) do
  local conf = redis.call('HGET', KEYS[3], key)
  if conf then
    local colon = string.find(conf, ':', 1, true)
    local limit = tonumber(string.sub(conf, 1, colon - 1))
    local per = tonumber(string.sub(conf, colon + 1))
    local log = ns .. 'jobs-rs:rate:' .. key
    local from = '(' .. string.format('%.0f', now - per)
    local live = redis.call('ZCOUNT', log, from, '+inf')
    if live > 0 then
      local full, frees = 0, 0
      if live >= limit then
        local r = redis.call('ZRANGEBYSCORE', log, from, '+inf', 'WITHSCORES', 'LIMIT',
          live - limit, 1)
        full, frees = 1, tonumber(r[2]) + per
      end
      rates[#rates + 1] = key
      rates[#rates + 1] = limit
      rates[#rates + 1] = per
      rates[#rates + 1] = live
      rates[#rates + 1] = full
      rates[#rates + 1] = frees
    end
  end
end
return { conc, rates }
