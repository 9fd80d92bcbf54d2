-- KEYS[1] the user's sessions hash. ARGV: session id, now_ms
-- Returns { field, record } of the live session deleted; {} when there was
-- none (an ended one is dropped and counts as none).
local field, value = find_by_id(KEYS[1], ARGV[1])
if not field then return {} end
local now = tonumber(ARGV[2])
local deadline = deadline_of(value)
redis.call('HDEL', KEYS[1], field)
enforce_limit(KEYS[1], now, 0, '')
if deadline and deadline > now then
  -- KEYS[2]: events, see events_of.
  local ev = events_of(1, 2)
  emit_session(ev, 'session.delete', value)
  emit_done(ev)
  return { field, value }
end
return {}
