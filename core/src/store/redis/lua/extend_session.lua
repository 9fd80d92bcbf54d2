-- KEYS[1] the user's sessions hash.
-- ARGV: 1 id, 2 now_ms, 3 new expire_ms, 4 new deadline_ms, 5 max age ms
-- (no session outlives its creation plus the max age, however often extended)
local sessions = KEYS[1]
local now = tonumber(ARGV[2])
local field, value = find_by_id(sessions, ARGV[1])
if not field then return false end
local deadline = deadline_of(value)
if not deadline or deadline <= now then
  redis.call('HDEL', sessions, field)
  return false
end
local created = tonumber(string.match(value, '"c":(%d+)'))
local expire = math.min(tonumber(ARGV[3]), created + tonumber(ARGV[5]))
if expire <= now then
  redis.call('HDEL', sessions, field)
  enforce_limit(sessions, now, 0, '')
  return false
end
value = string.gsub(value, '"u":%d+', '"u":' .. ARGV[2], 1)
value = string.gsub(value, '"e":%d+', '"e":' .. expire, 1)
value = with_deadline(value, math.min(tonumber(ARGV[4]), expire))
redis.call('HSET', sessions, field, value)
-- Also drops other ended records; the expiry follows the latest deadline.
enforce_limit(sessions, now, 0, '')
return { field, value }
