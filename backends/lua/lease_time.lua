-- Put in front of the scripts that set or judge a lease (scripts.rs): `lease_time(v)`.
-- A lease time from an argument: "+<seconds>" is that long after the server's own clock
-- (TIME: leases in the store's clock, `jobs::clock::LeaseClock::Store`), anything else an
-- epoch score given by the caller.
local function lease_time(v)
  if string.sub(v, 1, 1) == '+' then
    local t = redis.call('TIME')
    return string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(string.sub(v, 2)))
  end
  return v
end
