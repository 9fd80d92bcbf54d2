-- KEYS[1] address key. Returns the owner or nil. A binding lives until its
-- user is deleted; PERSIST undoes the TTL that older versions set.
local owner = redis.call('GET', KEYS[1])
if owner then redis.call('PERSIST', KEYS[1]) end
return owner
