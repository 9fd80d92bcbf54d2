-- KEYS[1] user record. ARGV: email (0/1), phone (0/1), now_ms
-- A sign-in proved the address: the user is kept for good.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'ev', '1') end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'pv', '1') end
redis.call('HSET', KEYS[1], 'u', ARGV[3])
redis.call('HDEL', KEYS[1], 'x')
redis.call('PERSIST', KEYS[1])
return 1
