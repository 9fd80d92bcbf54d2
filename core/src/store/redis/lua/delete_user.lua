-- KEYS: user record, token hash, sessions hash, failure counter, lock
-- ARGV: now_ms
-- Deletes everything of one user in one step. Returns { known (0/1), email,
-- phone, live session ids... }; known is 1 when the id had a record, tokens
-- or sessions.
local user, tokens, sessions = KEYS[1], KEYS[2], KEYS[3]
local known = redis.call('EXISTS', user, tokens, sessions) > 0
local email, phone = unpack(redis.call('HMGET', user, 'e', 'p'))
local reply = { known and 1 or 0, email or '', phone or '' }
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', sessions)
for i = 2, #all, 2 do
  local deadline = deadline_of(all[i])
  if deadline and deadline > now then
    table.insert(reply, string.match(all[i], '"i":"([^"]*)"'))
  end
end
redis.call('DEL', user, tokens, sessions, KEYS[4], KEYS[5])
return reply
