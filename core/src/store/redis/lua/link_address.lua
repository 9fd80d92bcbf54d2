-- KEYS[1] address key. ARGV: 1 user id, 2 expire_ms (0: for good), 3 now_ms.
-- Links the address to the user unless another owns it; returns the owner
-- (the first to link). A binding of an anonymous flow's new user expires
-- with that user's provisional record; linking it again to the same user
-- extends it (never shortens it), or with 0 keeps it for good.
local owner = redis.call('GET', KEYS[1])
local expire = tonumber(ARGV[2])
if not owner then
  redis.call('SET', KEYS[1], ARGV[1])
  if expire > 0 then redis.call('PEXPIREAT', KEYS[1], expire) end
  return ARGV[1]
end
if owner == ARGV[1] then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    if expire == 0 then
      redis.call('PERSIST', KEYS[1])
    elseif expire > tonumber(ARGV[3]) + ttl then
      redis.call('PEXPIREAT', KEYS[1], expire)
    end
  end
end
return owner
