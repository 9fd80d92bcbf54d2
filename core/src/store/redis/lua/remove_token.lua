-- KEYS: the user's auth hash, user record, sessions hash (one user's hash tag)
-- ARGV: the token's digest. Deletes the token (its delivery failed); a
-- provisional user left without tokens and sessions is withdrawn with it.
-- Returns 1 when the user was withdrawn.
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HEXISTS', KEYS[2], 'x') == 0 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not is_guard(field) then return 0 end
end
redis.call('DEL', KEYS[2])
return 1
