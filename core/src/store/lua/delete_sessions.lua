-- KEYS[1] session index. ARGV: session key prefix
local all = redis.call('HGETALL', KEYS[1])
local count = 0
for i = 1, #all, 2 do
  local digest = string.match(all[i + 1], '^([^|]*)|')
  count = count + redis.call('DEL', ARGV[1] .. digest)
end
redis.call('DEL', KEYS[1])
return count
