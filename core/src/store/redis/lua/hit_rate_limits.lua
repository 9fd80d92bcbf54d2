-- KEYS: counter and gap marker of each bucket, in pairs (one group's hash tag)
-- ARGV: limit, window_ms, min_interval_ms of each bucket, in threes.
-- Counts one hit in every bucket, or in none: returns 0 when counted, else
-- the (1-based) index of the first bucket over its limit or inside its gap.
local n = #KEYS / 2
for i = 1, n do
  if tonumber(ARGV[3 * i]) > 0 and redis.call('EXISTS', KEYS[2 * i]) == 1 then return i end
  if tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0') >= tonumber(ARGV[3 * i - 2]) then return i end
end
for i = 1, n do
  if redis.call('INCR', KEYS[2 * i - 1]) == 1 then redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[3 * i - 1]) end
  if tonumber(ARGV[3 * i]) > 0 then redis.call('SET', KEYS[2 * i], '1', 'PX', ARGV[3 * i]) end
end
return 0
