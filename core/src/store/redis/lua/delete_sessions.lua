-- KEYS[1] the user's sessions hash. ARGV: now_ms
-- Returns { field, record, ... } of the live sessions deleted.
local all = redis.call('HGETALL', KEYS[1])
local now = tonumber(ARGV[1])
local deleted = {}
for i = 1, #all, 2 do
  local deadline = deadline_of(all[i + 1])
  if deadline and deadline > now then
    table.insert(deleted, all[i])
    table.insert(deleted, all[i + 1])
  end
end
redis.call('DEL', KEYS[1])
-- KEYS[2]: events, see events_of.
local ev = events_of(1, 1)
emit_sessions(ev, 'session.delete', deleted, 1)
emit_done(ev)
return deleted
