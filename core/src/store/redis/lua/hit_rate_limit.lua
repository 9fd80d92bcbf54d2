-- KEYS: counter, gap marker (one bucket's hash tag)
-- ARGV: limit, window_ms, min_interval_ms. Returns 1 when counted, 0 when refused.
local min_interval = tonumber(ARGV[3])
if min_interval > 0 and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return 0 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if min_interval > 0 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
return 1
