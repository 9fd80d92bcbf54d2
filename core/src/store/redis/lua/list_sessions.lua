-- KEYS[1] the user's sessions hash. ARGV: now_ms
-- Returns digest, record pairs of the live sessions; drops the others.
local sessions = KEYS[1]
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', sessions)
local out = {}
for i = 1, #all, 2 do
  local deadline = deadline_of(all[i + 1])
  if deadline and deadline > now then
    table.insert(out, all[i])
    table.insert(out, all[i + 1])
  else
    redis.call('HDEL', sessions, all[i])
  end
end
return out
