-- KEYS[1] the user's sessions hash. ARGV: digest, now_ms, idle_ms, refresh_interval_ms
-- Slides the idle deadline, writing at most once per refresh interval.
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return false end
local now = tonumber(ARGV[2])
local deadline = deadline_of(value)
if deadline and deadline > now then
  local expire = tonumber(string.match(value, '"e":(%d+)'))
  local target = math.min(expire, now + tonumber(ARGV[3]))
  if target - deadline >= tonumber(ARGV[4]) then
    value = with_deadline(value, target)
    redis.call('HSET', KEYS[1], ARGV[1], value)
    cover(KEYS[1], target, now)
  end
end
return value
