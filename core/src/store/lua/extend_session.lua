-- KEYS[1] session index. ARGV: 1 id, 2 now_ms, 3 new expire_ms, 4 key deadline_ms, 5 session key prefix
local index = KEYS[1]
local entry = redis.call('HGET', index, ARGV[1])
if not entry then return false end
local digest, created = string.match(entry, '^([^|]*)|([^|]*)|')
local key = ARGV[5] .. digest
local value = redis.call('GET', key)
if not value then
  redis.call('HDEL', index, ARGV[1])
  return false
end
value = string.gsub(value, '"u":%d+', '"u":' .. ARGV[2], 1)
value = string.gsub(value, '"e":%d+', '"e":' .. ARGV[3], 1)
redis.call('SET', key, value, 'PXAT', ARGV[4])
redis.call('HSET', index, ARGV[1], digest .. '|' .. created .. '|' .. ARGV[3])
if redis.call('PTTL', index) < tonumber(ARGV[3]) - tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', index, ARGV[3])
end
return { digest, value }
