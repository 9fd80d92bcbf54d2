-- KEYS[1] the user's sessions hash. ARGV: session id
local field = find_by_id(KEYS[1], ARGV[1])
if not field then return 0 end
return redis.call('HDEL', KEYS[1], field)
