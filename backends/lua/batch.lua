-- Batch helpers (prepended to finish.lua and batch_ops.lua). A batch lives in keys Sidekiq
-- never reads: the hash jobs-rs:batch:<bid> (info JSON, sealed, parent, callback jobs
-- cb:<event>, fired times <event>_at) and one set per member state,
-- jobs-rs:batch:<bid>:{pending,succeeded,failed,dead}, holding member ids (jids, or b:<bid>
-- for a child batch). A member moves by SMOVE from the one set it is in, so a settle
-- applied twice moves nothing and no count can go below zero; a callback is claimed by
-- HSETNX of its <event>_at in the same script that moves the member.

local batch_states = { 'pending', 'succeeded', 'failed', 'dead' }

-- Pushes job JSON `json` to queue `q` as Sidekiq's client does.
local function batch_enqueue(ns, q, json)
  redis.call('SADD', ns .. 'queues', q)
  redis.call('LPUSH', ns .. 'queue:' .. q, json)
end

-- In batch `bid`: moves `member` to state `to` (when member is not false), fires what is
-- due (`death` forces the death callback: a child's death), then walks up to the parent
-- with this batch's new state there. `now` is epoch seconds as a string. A set is counted
-- only when what is due depends on it: a member's success in a sealed batch still pending
-- reads the hash, finds and moves the member, and counts the pending set.
local function batch_walk(ns, bid, member, to, death, now)
  while bid do
    local key = ns .. 'jobs-rs:batch:' .. bid
    -- `sealed` is written when the batch is created: no field, no batch.
    local h = redis.call('HMGET', key, 'sealed', 'complete_at', 'success_at', 'death_at', 'parent')
    if not h[1] then return end
    if member then
      local from = false
      for _, s in ipairs(batch_states) do
        if redis.call('SISMEMBER', key .. ':' .. s, member) == 1 then from = s break end
      end
      if not from or from == to then return end
      redis.call('SMOVE', key .. ':' .. from, key .. ':' .. to, member)
    end
    local sealed = h[1] == '1'
    -- complete and success are due only once a sealed batch has nothing pending.
    local finishing = sealed and (not h[2] or not h[3])
      and redis.call('SCARD', key .. ':pending') == 0
    -- Every move into dead comes through here and fires `death` then: until it has fired,
    -- only a move into dead (or a child's death) can make the dead set non-empty.
    local dead, failed = 0, 0
    if finishing or (not h[4] and (to == 'dead' or death)) then
      dead = redis.call('SCARD', key .. ':dead')
    end
    if finishing then failed = redis.call('SCARD', key .. ':failed') end
    local fire = {}
    local in_parent, parent_death = false, false
    if (dead > 0 or death) and not h[4] then
      fire[#fire + 1] = 'death'
      parent_death = true
    end
    if finishing then
      local success = failed == 0 and dead == 0
      if not h[2] then
        fire[#fire + 1] = 'complete'
        if success then in_parent = 'succeeded' elseif dead > 0 then in_parent = 'dead' else in_parent = 'failed' end
      end
      if success and not h[3] then
        fire[#fire + 1] = 'success'
        in_parent = 'succeeded'
      end
    end
    for _, ev in ipairs(fire) do
      if ev == 'death' and redis.call('HGET', key, 'cancel_on_death') == '1' then
        -- Claimed, never enqueued: the dependant is cancelled.
        redis.call('HSETNX', key, 'success_at', now)
      end
      if redis.call('HSETNX', key, ev .. '_at', now) == 1 then
        local cb = redis.call('HGET', key, 'cb:' .. ev)
        if cb then
          local q = redis.call('HGET', key, 'cbq:' .. ev)
          local json = string.gsub(cb, '"enqueued_at":0%.0', '"enqueued_at":' .. now, 1)
          batch_enqueue(ns, q, json)
        end
      end
    end
    local parent = h[5]
    if parent and parent ~= '' and (in_parent or parent_death) then
      if in_parent then member = 'b:' .. bid else member = false end
      to, death, bid = in_parent, parent_death, parent
    else
      bid = nil
    end
  end
end
