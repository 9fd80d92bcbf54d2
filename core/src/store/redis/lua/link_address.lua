-- KEYS[1] address key. ARGV: user id. Returns the owner (the first to link).
local owner = redis.call('GET', KEYS[1])
if owner then return owner end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
