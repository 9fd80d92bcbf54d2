-- KEYS[1] address key. ARGV: user id, ttl_ms. Returns the owner.
local owner = redis.call('GET', KEYS[1])
if owner then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return owner
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
