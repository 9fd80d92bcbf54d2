-- redrive: dead-letter entry ARGV[1] is appended to the stream again (a new
-- entry, at most about ARGV[2] kept) and removed from the dead letters.
-- KEYS[1]: the stream, KEYS[2]: the dead-letter stream. Answers the new id,
-- or nil when there is no such dead letter.
local found = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #found == 0 then
  return false
end
local fields = found[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'd' then
    local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'd', fields[i + 1])
    redis.call('XDEL', KEYS[2], ARGV[1])
    return id
  end
end
return false
