-- KEYS[1] counter. Takes back one hit, never below zero, keeping the TTL.
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return count
