-- KEYS[1] the user's auth hash (see is_guard), KEYS[2] the user's directory record
-- Returns { 1 when the token made the user known, else 0; 1 when it kept a
-- provisional user for good (a custom token), else 0 }.
-- KEYS[3], ARGV[8..12]: events (see events_of), when the store writes them.
-- ARGV: digest, record "id|kind|expire|low", expire_ms, now_ms, replace_kind (0/1), kind,
--       how long a provisional user lives on (0: for good; see remember)
local auth = KEYS[1]
local now = tonumber(ARGV[4])
local latest = tonumber(ARGV[3])
local created, provisional, kept = remember(KEYS[2], ARGV[4], tonumber(ARGV[7]))
-- Ended tokens and guards go, and so does the same kind's token when it is
-- replaced; the hash lives as long as what stays.
local all = redis.call('HGETALL', auth)
local gone = {}
for i = 1, #all, 2 do
  local field, value, ends = all[i], all[i + 1], nil
  if is_guard(field) then
    ends = guard_until(field, value)
  else
    local kind, expire = string.match(value, '^[^|]*|([^|]*)|([^|]*)|')
    if not (ARGV[5] == '1' and kind == ARGV[6]) then ends = tonumber(expire) end
  end
  if ends == nil or ends <= now then
    gone[#gone + 1] = field
  elseif ends > latest then
    latest = ends
  end
end
if #gone > 0 then redis.call('HDEL', auth, unpack(gone)) end
redis.call('HSET', auth, ARGV[1], ARGV[2] .. (provisional and '|1' or '|0'))
redis.call('PEXPIREAT', auth, latest)
-- Events on (KEYS[3]): ARGV[11] the token's event, ARGV[12] the user's
-- (written when this made the user known), both encoded by the store.
local ev = events_of(2, 7)
if ev then
  if created == 1 then emit(ev, ARGV[12]) end
  emit(ev, ARGV[11])
  emit_done(ev)
end
return { created, kept and 1 or 0 }
