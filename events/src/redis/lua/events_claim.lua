-- claim_stale: entries of group ARGV[1] pending for at least ARGV[3] ms at
-- any consumer move to consumer ARGV[2] (XAUTOCLAIM, which counts a
-- delivery), at most ARGV[4] of them, oldest first; each answered with its
-- delivery count (XPENDING), which XAUTOCLAIM does not report.
-- KEYS[1]: the stream. Answers {{id, fields, deliveries}, ...}.
local out = {}
-- No such group (or stream): nothing to claim, and no NOGROUP error (a
-- failed script call looks like a slot error in a cluster's statistics).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return out
end
local known = false
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  for i = 1, #group, 2 do
    if group[i] == 'name' and group[i + 1] == ARGV[1] then
      known = true
    end
  end
end
if not known then
  return out
end
local want = tonumber(ARGV[4])
local cursor = '0-0'
-- A bounded walk of the pending list: each XAUTOCLAIM looks at most
-- 10 x COUNT entries.
for _ = 1, 8 do
  local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', want - #out)
  for _, entry in ipairs(claimed[2]) do
    if entry then
      local info = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
      local deliveries = 1
      if info[1] then
        deliveries = info[1][4]
      end
      out[#out + 1] = {entry[1], entry[2], deliveries}
    end
  end
  cursor = claimed[1]
  if cursor == '0-0' or #out >= want then
    break
  end
end
return out
