-- KEYS[1] the user's sessions hash
-- ARGV: 1 digest, 2 record json, 3 now_ms, 4 session id, 5 max sessions
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return enforce_limit(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[5]), ARGV[4])
