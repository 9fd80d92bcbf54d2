-- Shared by redeem and insert_session: drop index entries whose session is
-- gone (expired or idle), evict the oldest beyond the limit (never the one
-- just created), and keep the index's own expiry at the latest session's.
local function enforce_limit(index, session_prefix, now, limit, keep_id)
  local all = redis.call('HGETALL', index)
  local live = {}
  for i = 1, #all, 2 do
    local digest, created, expire = string.match(all[i + 1], '^([^|]*)|([^|]*)|([^|]*)$')
    expire = tonumber(expire)
    if expire == nil or expire <= now or redis.call('EXISTS', session_prefix .. digest) == 0 then
      redis.call('HDEL', index, all[i])
    else
      table.insert(live, { id = all[i], digest = digest, created = tonumber(created), expire = expire })
    end
  end
  local evicted = {}
  if limit > 0 and #live > limit then
    local candidates = {}
    for _, s in ipairs(live) do
      if s.id ~= keep_id then table.insert(candidates, s) end
    end
    table.sort(candidates, function(a, b)
      if a.created == b.created then return a.id < b.id end
      return a.created < b.created
    end)
    for j = 1, #live - limit do
      local s = candidates[j]
      redis.call('DEL', session_prefix .. s.digest)
      redis.call('HDEL', index, s.id)
      s.evicted = true
      table.insert(evicted, s.id)
    end
  end
  local latest = 0
  for _, s in ipairs(live) do
    if not s.evicted and s.expire > latest then latest = s.expire end
  end
  if latest > 0 then redis.call('PEXPIREAT', index, latest) end
  return evicted
end
