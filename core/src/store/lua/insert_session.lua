-- KEYS: session index, new session key
-- ARGV: 1 session id, 2 digest, 3 json, 4 now_ms, 5 expire_ms, 6 key deadline_ms, 7 max sessions, 8 session key prefix
local index, session_key = KEYS[1], KEYS[2]
redis.call('SET', session_key, ARGV[3], 'PXAT', ARGV[6])
redis.call('HSET', index, ARGV[1], ARGV[2] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
return enforce_limit(index, ARGV[8], tonumber(ARGV[4]), tonumber(ARGV[7]), ARGV[1])
