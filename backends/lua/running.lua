-- Whether job ARGV[1] runs now, and its current run's progress: the in-flight lists of every
-- process holding leases (members of jobs-rs:leases) are searched for a payload naming the
-- jid. A progress record counts only when it was written by that process at its current
-- lease epoch; a stale one (its run was rescued) is deleted.
-- KEYS[1] jobs-rs:leases, KEYS[2] jobs-rs:progress:<jid>. ARGV[1] the jid, ARGV[2] the key
-- prefix ("" or "<prefix>:").
-- Returns {} when not running, {1} when running without a report, {1, record} with one.
local ns = ARGV[2]
local needle = '"jid":"' .. ARGV[1] .. '"'
local holder = nil
for _, process in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local tag = string.len(process) .. ':' .. process
  for _, queue in ipairs(redis.call('SMEMBERS', ns .. 'jobs-rs:leased:' .. tag)) do
    for _, raw in ipairs(redis.call('LRANGE', ns .. 'jobs-rs:inflight:' .. tag .. ':' .. queue, 0, -1)) do
      if string.find(raw, needle, 1, true) then
        holder = process
        break
      end
    end
    if holder then break end
  end
  if holder then break end
end
local record = redis.call('GET', KEYS[2])
if not holder then
  if record then redis.call('DEL', KEYS[2]) end
  return {}
end
if not record then return {1} end
local ok, r = pcall(cjson.decode, record)
local tag = string.len(holder) .. ':' .. holder
local epoch = redis.call('GET', ns .. 'jobs-rs:epoch:' .. tag) or '0'
if ok and r['process'] == holder and tostring(r['epoch']) == epoch then
  return {1, record}
end
redis.call('DEL', KEYS[2])
return {1}
