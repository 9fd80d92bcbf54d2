-- KEYS[1] the user's sessions hash. ARGV: now_ms
-- Returns how many live sessions there were.
local all = redis.call('HGETALL', KEYS[1])
local now = tonumber(ARGV[1])
local count = 0
for i = 2, #all, 2 do
  local deadline = deadline_of(all[i])
  if deadline and deadline > now then count = count + 1 end
end
redis.call('DEL', KEYS[1])
return count
