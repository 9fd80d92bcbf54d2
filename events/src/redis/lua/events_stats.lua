-- stats: {length, pending of group ARGV[1], id of the oldest entry the group
-- has not acknowledged (pending, or else the first unread) or false,
-- dead-letter length}. KEYS[1]: the stream, KEYS[2]: the dead letters.
local len = redis.call('XLEN', KEYS[1])
local dead = redis.call('XLEN', KEYS[2])
local pending = 0
local oldest = false
local last = nil
if len > 0 then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local fields = {}
    for i = 1, #group, 2 do
      fields[group[i]] = group[i + 1]
    end
    if fields['name'] == ARGV[1] then
      last = fields['last-delivered-id']
      pending = fields['pending']
    end
  end
end
if last then
  if pending > 0 then
    oldest = redis.call('XPENDING', KEYS[1], ARGV[1])[2]
  else
    local unread = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)
    if #unread > 0 then
      oldest = unread[1][1]
    end
  end
elseif len > 0 then
  oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1]
end
return {len, pending, oldest, dead}
