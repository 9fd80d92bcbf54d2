-- KEYS: token hash, user record, sessions hash (one user's hash tag)
-- ARGV: the token's digest. Deletes the token (its delivery failed); a
-- provisional user left without tokens and sessions is withdrawn with it.
-- Returns 1 when the user was withdrawn.
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HEXISTS', KEYS[2], 'x') == 1 and redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
