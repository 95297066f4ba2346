-- List the unique locks held at `now`, soonest to lapse first (ties by key): the index
-- jobs-rs:uniques (key -> expires_at) from just past `now`, each lock read from its hash
-- <ns>jobs-rs:unique:<key>. An index entry whose hash is gone (Redis expired it at its lapse)
-- is dropped on the way and not counted.
--
-- KEYS[1] jobs-rs:uniques.
-- ARGV[1] the key prefix ("" or "<prefix>:"), ARGV[2] now (epoch s), ARGV[3] locks to skip,
-- ARGV[4] the most to return.
-- Returns { key, jid, class, queue, until, expires_at, ... }.
local ns, skip, want = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local from = 0
while want > 0 do
  local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf', 'LIMIT', from, 500)
  if #keys == 0 then break end
  from = from + #keys
  for _, key in ipairs(keys) do
    local h = redis.call('HMGET', ns .. 'jobs-rs:unique:' .. key, 'jid', 'class', 'queue', 'until', 'exp')
    if not h[1] then
      redis.call('ZREM', KEYS[1], key)
      from = from - 1
    elseif skip > 0 then
      skip = skip - 1
    elseif want > 0 then
      out[#out + 1] = key
      for i = 1, 5 do out[#out + 1] = h[i] or '' end
      want = want - 1
    end
  end
end
return out
