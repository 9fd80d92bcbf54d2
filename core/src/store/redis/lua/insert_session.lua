-- KEYS[1] the user's sessions hash, KEYS[2] the user's directory record
-- ARGV: 1 digest, 2 record json, 3 now_ms, 4 session id, 5 max sessions
-- Returns { user created (0/1), evicted field, evicted record, ... }.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local reply = enforce_limit(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[5]), ARGV[4])
local created = remember(KEYS[2], ARGV[3], 0)
-- The user when this made it known, the new session, those it evicted
-- (KEYS[3]: events, see events_of).
local ev = events_of(2, 5)
if ev then
  if created == 1 then emit(ev, ev.head .. ',"k":"user.create","c":' .. ARGV[3] .. ',"m":' .. ARGV[3] .. '}') end
  emit_session(ev, 'session.create', ARGV[2])
  emit_sessions(ev, 'session.delete', reply, 1)
  emit_done(ev)
end
table.insert(reply, 1, created)
return reply
