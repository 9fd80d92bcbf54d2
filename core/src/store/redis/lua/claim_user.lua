-- KEYS: user record, sessions hash, token hash (one user's hash tag)
-- ARGV: 1 email, 2 phone, 3 now_ms, 4 expire_ms (0: for good)
-- 1 when the id is free (the record is created) or already bound to this
-- address; 0 when it is known with another address or none. A record made
-- for an anonymous flow is provisional until its user first signs in
-- (see keep_until); one for good has no TTL.
local user = KEYS[1]
local expire = tonumber(ARGV[4])
if redis.call('EXISTS', user) == 1 then
  local email, phone = unpack(redis.call('HMGET', user, 'e', 'p'))
  if (ARGV[1] ~= '' and email == ARGV[1]) or (ARGV[2] ~= '' and phone == ARGV[2]) then
    keep_until(user, expire)
    return 1
  end
  return 0
end
-- A user id with live tokens or sessions belongs to someone already.
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
-- 'n': not yet announced; the first token or session announces the user.
redis.call('HSET', user, 'e', ARGV[1], 'p', ARGV[2], 'c', ARGV[3], 'u', ARGV[3], 'ev', '0', 'pv', '0', 'n', '1')
if expire > 0 then
  redis.call('HSET', user, 'x', expire)
  redis.call('PEXPIREAT', user, expire)
end
return 1
