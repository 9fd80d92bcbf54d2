-- dead_letter: entry ARGV[2] of group ARGV[1] is appended to the dead-letter
-- stream (payload ARGV[3], deliveries ARGV[4], reason ARGV[5], at most about
-- ARGV[6] entries kept) and acknowledged, in one step.
-- KEYS[1]: the stream, KEYS[2]: the dead-letter stream (same hash tag).
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'd', ARGV[3], 'n', ARGV[4], 'r', ARGV[5], 'o', ARGV[2])
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
