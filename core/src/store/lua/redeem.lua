-- KEYS: token hash, session index, failure counter, lock, new session key
-- ARGV: 1 token digest, 2 now_ms, 3 session id, 4 session digest,
--       5 session json (kind first, replaced here), 6 session expire_ms, 7 session key deadline_ms,
--       8 max sessions, 9 burn after, 10 lockout after, 11 lockout ms, 12 session key prefix
local tokens, index, fails, lock, session_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[2])
if redis.call('EXISTS', lock) == 1 then return { 'locked' } end

local record = redis.call('HGET', tokens, ARGV[1])
local token_id, kind
if record then
  -- Burned whether valid or not: a secret is tried once.
  redis.call('HDEL', tokens, ARGV[1])
  local id, k, expire = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|')
  if tonumber(expire) > now then token_id, kind = id, k end
end

if not kind then
  -- A user with nothing to guess gets no counter (no keys for arbitrary ids).
  if not record and redis.call('EXISTS', tokens) == 0 then return { 'rejected' } end
  local failures = redis.call('INCR', fails)
  redis.call('PEXPIRE', fails, ARGV[11])
  local burn_after = tonumber(ARGV[9])
  if burn_after > 0 and failures % burn_after == 0 then
    local all = redis.call('HGETALL', tokens)
    for i = 1, #all, 2 do
      if string.sub(all[i + 1], -1) == '1' then redis.call('HDEL', tokens, all[i]) end
    end
  end
  local lockout_after = tonumber(ARGV[10])
  if lockout_after > 0 and failures >= lockout_after then
    redis.call('SET', lock, '1', 'PX', ARGV[11])
    redis.call('DEL', fails)
  end
  return { 'rejected' }
end

-- The session JSON starts with its kind ("k"); it becomes the token's kind.
local session_json = string.gsub(ARGV[5], '^{"k":"[^"]*"', '{"k":"' .. kind .. '"', 1)
redis.call('SET', session_key, session_json, 'PXAT', ARGV[7])
redis.call('HSET', index, ARGV[3], ARGV[4] .. '|' .. ARGV[2] .. '|' .. ARGV[6])
local evicted = enforce_limit(index, ARGV[12], now, tonumber(ARGV[8]), ARGV[3])
redis.call('DEL', fails)
local reply = { 'ok', token_id, kind }
for _, id in ipairs(evicted) do table.insert(reply, id) end
return reply
