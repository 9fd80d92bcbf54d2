-- KEYS[1] the user's sessions hash, KEYS[2] the user's directory record
-- ARGV: 1 digest, 2 record json, 3 now_ms, 4 session id, 5 max sessions
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
-- From its first session on, the id is known for good (no TTL).
if redis.call('HSETNX', KEYS[2], 'c', ARGV[3]) == 1 then redis.call('HSET', KEYS[2], 'u', ARGV[3]) end
-- Records of older versions carried a TTL: identity must not expire.
redis.call('PERSIST', KEYS[2])
return enforce_limit(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[5]), ARGV[4])
