-- KEYS[1] session index. ARGV: now_ms, session key prefix
-- Returns the live sessions' stored values; drops stale index entries.
local index = KEYS[1]
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', index)
local out = {}
for i = 1, #all, 2 do
  local digest, expire = string.match(all[i + 1], '^([^|]*)|[^|]*|([^|]*)$')
  local value = false
  if tonumber(expire) > now then value = redis.call('GET', ARGV[2] .. digest) end
  if value then
    table.insert(out, digest)
    table.insert(out, value)
  else
    redis.call('HDEL', index, all[i])
  end
end
return out
