-- KEYS: token hash, sessions hash, failure counter, lock
-- ARGV: 1 token digest, 2 now_ms, 3 session id, 4 session digest,
--       5 session json (kind first, replaced here), 6 max sessions,
--       7 burn after, 8 lockout after, 9 lockout ms
local tokens, sessions, fails, lock = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
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
  redis.call('PEXPIRE', fails, ARGV[9])
  local burn_after = tonumber(ARGV[7])
  if burn_after > 0 and failures % burn_after == 0 then
    local all = redis.call('HGETALL', tokens)
    for i = 1, #all, 2 do
      if string.sub(all[i + 1], -1) == '1' then redis.call('HDEL', tokens, all[i]) end
    end
  end
  local lockout_after = tonumber(ARGV[8])
  if lockout_after > 0 and failures >= lockout_after then
    redis.call('SET', lock, '1', 'PX', ARGV[9])
    redis.call('DEL', fails)
  end
  return { 'rejected' }
end

-- The session JSON starts with its kind ("k"); it becomes the token's kind.
local session_json = string.gsub(ARGV[5], '^{"k":"[^"]*"', '{"k":"' .. kind .. '"', 1)
redis.call('HSET', sessions, ARGV[4], session_json)
local evicted = enforce_limit(sessions, now, tonumber(ARGV[6]), ARGV[3])
redis.call('DEL', fails)
local reply = { 'ok', token_id, kind }
for _, id in ipairs(evicted) do table.insert(reply, id) end
return reply
