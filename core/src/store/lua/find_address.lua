-- KEYS[1] address key. ARGV: ttl_ms. Returns the owner (and keeps it alive) or nil.
local owner = redis.call('GET', KEYS[1])
if owner then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return owner
