-- KEYS[1] the user's sessions hash, KEYS[2] the user's directory record
-- ARGV: 1 digest, 2 record json, 3 now_ms, 4 session id, 5 max sessions
-- Returns { user created (0/1), evicted field, evicted record, ... }.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local reply = enforce_limit(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[5]), ARGV[4])
table.insert(reply, 1, remember(KEYS[2], ARGV[3]))
return reply
