-- KEYS: token hash, sessions hash, failure counter, lock, client failure counter,
--       user record
-- Returns { 'ok', token id, kind, kept (1 when this first sign-in made a
-- provisional user one for good), evicted field, evicted record, ... } or
-- { 'rejected' | 'locked' | 'throttled' }.
-- ARGV: 1 token digest, 2 now_ms, 3 session id, 4 session digest,
--       5 session json (kind first, replaced here), 6 max sessions,
--       7 burn after, 8 lockout after, 9 lockout ms,
--       10 failures allowed per client (0 = no client), 11 client window ms
local tokens, sessions, fails, lock, client = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[2])
local client_limit = tonumber(ARGV[10])
if client_limit > 0 and tonumber(redis.call('GET', client) or '0') >= client_limit then
  return { 'throttled' }
end

local locked = redis.call('EXISTS', lock) == 1
local record = redis.call('HGET', tokens, ARGV[1])
local token_id, kind, guessable
if record then
  local id, k, expire, low = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  local live = tonumber(expire) > now
  -- A lockout stops guessable secrets only: an unguessable one still works.
  if locked and (low == '1' or not live) then return { 'locked' } end
  -- Burned whether valid or not: a secret is tried once.
  redis.call('HDEL', tokens, ARGV[1])
  if live then token_id, kind = id, k end
  guessable = low == '1'
elseif locked then
  return { 'locked' }
end

if not kind then
  -- A user with nothing to guess gets no counter (no keys for arbitrary ids).
  if not record and redis.call('EXISTS', tokens) == 0 then return { 'rejected' } end
  if client_limit > 0 and redis.call('INCR', client) == 1 then redis.call('PEXPIRE', client, ARGV[11]) end
  local all = redis.call('HGETALL', tokens)
  for i = 2, #all, 2 do
    if string.sub(all[i], -1) == '1' then guessable = true end
  end
  -- Wrong guesses at unguessable secrets cannot lock the user out.
  if not guessable then return { 'rejected' } end
  local failures = redis.call('INCR', fails)
  redis.call('PEXPIRE', fails, ARGV[9])
  local burn_after = tonumber(ARGV[7])
  if burn_after > 0 and failures % burn_after == 0 then
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
local kept = keep_until(KEYS[6], 0)
-- The new session, then those it evicted (KEYS[7]: events, see events_of).
local ev = events_of(6, 11)
emit_session(ev, 'session.create', session_json)
emit_sessions(ev, 'session.delete', evicted, 1)
emit_done(ev)
local reply = { 'ok', token_id, kind, kept }
for _, part in ipairs(evicted) do table.insert(reply, part) end
return reply
