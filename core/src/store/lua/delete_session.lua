-- KEYS[1] session index. ARGV: id, session key prefix
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
local digest = string.match(entry, '^([^|]*)|')
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('DEL', ARGV[2] .. digest)
