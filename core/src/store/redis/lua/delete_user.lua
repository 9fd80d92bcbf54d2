-- KEYS: user record, auth hash, sessions hash
-- ARGV: now_ms
-- Deletes everything of one user in one step. Returns { known (0/1), email,
-- phone, created, updated, email verified, phone verified, then field and
-- record of each live session }; known is 1 when the id had a record,
-- tokens or sessions.
local user, tokens, sessions = KEYS[1], KEYS[2], KEYS[3]
local known = redis.call('EXISTS', user, tokens, sessions) > 0
local email, phone, created, updated, ev, pv = unpack(redis.call('HMGET', user, 'e', 'p', 'c', 'u', 'ev', 'pv'))
local reply = { known and 1 or 0, email or '', phone or '', created or '0', updated or created or '0', ev or '0', pv or '0' }
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', sessions)
for i = 1, #all, 2 do
  local deadline = deadline_of(all[i + 1])
  if deadline and deadline > now then
    table.insert(reply, all[i])
    table.insert(reply, all[i + 1])
  end
end
redis.call('DEL', user, tokens, sessions)
-- Its sessions end first, then the user (KEYS[4]: events, see events_of).
local ev = events_of(3, 1)
if ev and known then
  emit_sessions(ev, 'session.delete', reply, 8)
  local function digits(value) return string.match(value, '^%-?%d+$') and value or '0' end
  local json = ev.head .. ',"k":"user.delete","c":' .. digits(reply[4]) .. ',"m":' .. digits(reply[5])
  if reply[2] ~= '' then json = json .. ',"e":' .. cjson.encode(reply[2]) end
  if reply[3] ~= '' then json = json .. ',"ph":' .. cjson.encode(reply[3]) end
  if reply[6] == '1' then json = json .. ',"ev":true' end
  if reply[7] == '1' then json = json .. ',"pv":true' end
  emit(ev, json .. '}')
  emit_done(ev)
end
return reply
