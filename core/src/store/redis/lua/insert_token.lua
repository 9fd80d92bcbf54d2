-- KEYS[1] token hash of the user, KEYS[2] the user's directory record
-- Returns 1 when the token made the user known, else 0.
-- KEYS[3], ARGV[8..12]: events (see events_of), when the store writes them.
-- ARGV: digest, record "id|kind|expire|low", expire_ms, now_ms, replace_kind (0/1), kind,
--       how long a provisional user lives on (0: for good; see remember)
local tokens = KEYS[1]
local now = tonumber(ARGV[4])
local latest = tonumber(ARGV[3])
local all = redis.call('HGETALL', tokens)
for i = 1, #all, 2 do
  local kind, expire = string.match(all[i + 1], '^[^|]*|([^|]*)|([^|]*)|')
  expire = tonumber(expire)
  if expire == nil or expire <= now or (ARGV[5] == '1' and kind == ARGV[6]) then
    redis.call('HDEL', tokens, all[i])
  elseif expire > latest then
    latest = expire
  end
end
redis.call('HSET', tokens, ARGV[1], ARGV[2])
redis.call('PEXPIREAT', tokens, latest)
-- 1 when this made the user known (announced once).
local created = remember(KEYS[2], ARGV[4], tonumber(ARGV[7]))
-- Events on (KEYS[3]): ARGV[11] the token's event, ARGV[12] the user's
-- (written when this made the user known), both encoded by the store.
local ev = events_of(2, 7)
if ev then
  if created == 1 then emit(ev, ARGV[12]) end
  emit(ev, ARGV[11])
  emit_done(ev)
end
return created
