-- KEYS: the user's auth hash (see is_guard), sessions hash, user record
-- Returns { 'ok', token id, kind, kept (1 when this first sign-in made a
-- provisional user one for good), evicted field, evicted record, ... } or
-- { 'rejected' | 'locked' | 'throttled' }.
-- ARGV: 1 token digest, 2 now_ms, 3 session id, 4 session digest,
--       5 session json (kind first, replaced here), 6 max sessions,
--       7 burn after, 8 lockout after, 9 lockout ms,
--       10 failures allowed per client (0 = no client), 11 client window ms,
--       12 the client's guard field ('!c:<client>')
local auth, sessions = KEYS[1], KEYS[2]
local now = tonumber(ARGV[2])
local client_limit = tonumber(ARGV[10])
local record, lock, streak, client = unpack(redis.call('HMGET', auth, ARGV[1], '!l', '!f', ARGV[12]))
if client_limit > 0 and guard_count(client, now) >= client_limit then
  return { 'throttled' }
end

local locked = lock and tonumber(lock) > now
local token_id, kind, provisional, guessable
if record then
  local id, k, expire, low, prov = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  local live = tonumber(expire) > now
  -- A lockout stops guessable secrets only: an unguessable one still works.
  if locked and (low == '1' or not live) then return { 'locked' } end
  guessable = low == '1'
  if live then
    token_id, kind, provisional = id, k, prov == '1'
  else
    -- Burned whether valid or not: a secret is tried once.
    redis.call('HDEL', auth, ARGV[1])
  end
elseif locked then
  return { 'locked' }
end

if not kind then
  local all = redis.call('HGETALL', auth)
  local tokens = false
  for i = 1, #all, 2 do
    if not is_guard(all[i]) then
      tokens = true
      if string.sub(all[i + 1], -3, -3) == '1' then guessable = true end
    end
  end
  -- A user with nothing to guess gets no counter (no keys for arbitrary ids).
  if not record and not tokens then return { 'rejected' } end
  local latest = 0
  if client_limit > 0 then
    local till = now + tonumber(ARGV[11])
    if guard_count(client, now) > 0 then till = tonumber(string.match(client, '|(%d+)$')) end
    redis.call('HSET', auth, ARGV[12], (guard_count(client, now) + 1) .. '|' .. till)
    latest = till
  end
  -- Wrong guesses at unguessable secrets cannot lock the user out.
  if guessable then
    local failures = guard_count(streak, now) + 1
    local till = now + tonumber(ARGV[9])
    local burn_after = tonumber(ARGV[7])
    if burn_after > 0 and failures % burn_after == 0 then
      local burned = {}
      for i = 1, #all, 2 do
        if not is_guard(all[i]) and string.sub(all[i + 1], -3, -3) == '1' then burned[#burned + 1] = all[i] end
      end
      if #burned > 0 then redis.call('HDEL', auth, unpack(burned)) end
    end
    local lockout_after = tonumber(ARGV[8])
    if lockout_after > 0 and failures >= lockout_after then
      redis.call('HSET', auth, '!l', till)
      redis.call('HDEL', auth, '!f')
    else
      redis.call('HSET', auth, '!f', failures .. '|' .. till)
    end
    if till > latest then latest = till end
  end
  if latest > 0 then cover(auth, latest, now) end
  return { 'rejected' }
end

-- The session JSON starts with its kind ("k"); it becomes the token's kind.
local session_json = string.gsub(ARGV[5], '^{"k":"[^"]*"', '{"k":"' .. kind .. '"', 1)
-- The token is spent, and a success ends the failure streak.
redis.call('HDEL', auth, ARGV[1], '!f')
redis.call('HSET', sessions, ARGV[4], session_json)
local evicted = enforce_limit(sessions, now, tonumber(ARGV[6]), ARGV[3])
local kept = 0
if provisional then kept = keep_until(KEYS[3], 0) end
-- The new session, then those it evicted (KEYS[4]: events, see events_of).
local ev = events_of(3, 12)
emit_session(ev, 'session.create', session_json)
emit_sessions(ev, 'session.delete', evicted, 1)
emit_done(ev)
local reply = { 'ok', token_id, kind, kept }
for _, part in ipairs(evicted) do reply[#reply + 1] = part end
return reply
