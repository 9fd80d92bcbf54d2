-- KEYS[1] token hash of the user, KEYS[2] the user's directory record
-- ARGV: digest, record "id|kind|expire|low", expire_ms, now_ms, replace_kind (0/1), kind
local tokens = KEYS[1]
local now = tonumber(ARGV[4])
local latest = tonumber(ARGV[3])
local all = redis.call('HGETALL', tokens)
for i = 1, #all, 2 do
  local kind, expire = string.match(all[i + 1], '^[^|]*|([^|]*)|([^|]*)|')
  expire = tonumber(expire)
  if expire == nil or expire <= now or (ARGV[5] == '1' and kind == ARGV[6]) then
    redis.call('HDEL', tokens, all[i])
  elseif expire > latest then
    latest = expire
  end
end
redis.call('HSET', tokens, ARGV[1], ARGV[2])
redis.call('PEXPIREAT', tokens, latest)
-- From its first token on, the id is known for good (no TTL).
if redis.call('HSETNX', KEYS[2], 'c', ARGV[4]) == 1 then redis.call('HSET', KEYS[2], 'u', ARGV[4]) end
-- Records of older versions carried a TTL: identity must not expire.
redis.call('PERSIST', KEYS[2])
return 1
