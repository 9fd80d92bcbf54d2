-- KEYS[1] session key. ARGV: now_ms, idle_ms, refresh_interval_ms
-- Slides the idle deadline, writing at most once per refresh interval.
local value = redis.call('GET', KEYS[1])
if not value then return false end
local now = tonumber(ARGV[1])
local expire = tonumber(string.match(value, '"e":(%d+)'))
if expire and expire > now then
  local target = math.min(expire, now + tonumber(ARGV[2]))
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl >= 0 and target - (now + ttl) >= tonumber(ARGV[3]) then
    redis.call('PEXPIREAT', KEYS[1], target)
  end
end
return value
