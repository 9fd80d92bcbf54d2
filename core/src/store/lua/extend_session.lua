-- KEYS[1] the user's sessions hash. ARGV: 1 id, 2 now_ms, 3 new expire_ms, 4 new deadline_ms
local sessions = KEYS[1]
local now = tonumber(ARGV[2])
local field, value = find_by_id(sessions, ARGV[1])
if not field then return false end
local deadline = deadline_of(value)
if not deadline or deadline <= now then
  redis.call('HDEL', sessions, field)
  return false
end
value = string.gsub(value, '"u":%d+', '"u":' .. ARGV[2], 1)
value = string.gsub(value, '"e":%d+', '"e":' .. ARGV[3], 1)
value = with_deadline(value, tonumber(ARGV[4]))
redis.call('HSET', sessions, field, value)
-- Also drops other ended records; the expiry follows the latest deadline.
enforce_limit(sessions, now, 0, '')
return { field, value }
