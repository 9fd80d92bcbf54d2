-- KEYS[1] address key. ARGV: user id. Deletes the binding only if it still
-- names that user (another may have claimed the address since).
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
