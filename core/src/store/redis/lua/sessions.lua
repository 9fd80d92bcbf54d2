-- Shared by the session scripts. A user's sessions live in one hash
-- (field = credential digest, value = the record's JSON). A record ends at
-- its deadline: the earlier of "e" (expiry) and "d" (idle deadline, only
-- present when an idle timeout applies). Readers check the deadline against
-- the clock; inserting, redeeming, listing, extending and deleting drop the
-- ended records and set the hash's expiry to the latest remaining deadline,
-- so an ended record stays at most until the user's next such change or
-- the hash's expiry.

local function deadline_of(record)
  local expire = tonumber(string.match(record, '"e":(%d+)'))
  local idle = tonumber(string.match(record, '"d":(%d+)'))
  if expire and idle and idle < expire then return idle end
  return expire
end

-- The record with its idle deadline set to `deadline` (dropped when it is
-- not before the expiry). "d" always follows "e".
local function with_deadline(record, deadline)
  record = string.gsub(record, ',"d":%d+', '', 1)
  local expire = tonumber(string.match(record, '"e":(%d+)'))
  if deadline < expire then
    record = string.gsub(record, '("e":%d+)', '%1,"d":' .. deadline, 1)
  end
  return record
end

-- The field (digest) and record of the session with exactly this public id.
local function find_by_id(sessions, id)
  local all = redis.call('HGETALL', sessions)
  for i = 1, #all, 2 do
    if string.match(all[i + 1], '^{"k":"[^"]*","i":"([^"]*)"') == id then return all[i], all[i + 1] end
  end
  return nil
end

-- Keeps the hash alive until its latest deadline (never shortens it).
local function cover(sessions, deadline, now)
  if redis.call('PTTL', sessions) < deadline - now then redis.call('PEXPIREAT', sessions, deadline) end
end

-- Drops records past their deadline, evicts the oldest beyond the limit
-- (never the one just written), and sets the hash's expiry to the latest
-- remaining deadline. Returns the evicted sessions as { field, record, ... }.
local function enforce_limit(sessions, now, limit, keep_id)
  local all = redis.call('HGETALL', sessions)
  local live = {}
  for i = 1, #all, 2 do
    local record = all[i + 1]
    local deadline = deadline_of(record)
    if deadline == nil or deadline <= now then
      redis.call('HDEL', sessions, all[i])
    else
      table.insert(live, {
        field = all[i],
        record = record,
        id = string.match(record, '"i":"([^"]*)"'),
        created = tonumber(string.match(record, '"c":(%d+)')),
        deadline = deadline,
      })
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
      redis.call('HDEL', sessions, s.field)
      s.evicted = true
      table.insert(evicted, s.field)
      table.insert(evicted, s.record)
    end
  end
  local latest = 0
  for _, s in ipairs(live) do
    if not s.evicted and s.deadline > latest then latest = s.deadline end
  end
  if latest > 0 then redis.call('PEXPIREAT', sessions, latest) end
  return evicted
end

-- A provisional record (field 'x': when it disappears unless its user
-- signs in first; an anonymous flow's new user) lives until the later of
-- 'x' and `expire`, or with `expire` 0 for good. `deadline` is its 'x'
-- (nil: a record for good, left as it is). Returns 1 when this made a
-- provisional record one for good.
local function keep(user, deadline, expire)
  if not deadline then return 0 end
  if expire == 0 then
    redis.call('HDEL', user, 'x')
    redis.call('PERSIST', user)
    return 1
  end
  if expire > deadline then
    redis.call('HSET', user, 'x', expire)
    redis.call('PEXPIREAT', user, expire)
  end
  return 0
end

-- keep, reading the record's 'x' first.
local function keep_until(user, expire)
  return keep(user, tonumber(redis.call('HGET', user, 'x')), expire)
end

-- From its first token or session on, a user id is known: a record made
-- here is for good (its 'u' is its 'c' until it changes); a provisional
-- one lives on until `expire` (0: for good, see keep). Returns 1 when this
-- made the user known, announced once (the record was created here, or by
-- a claim no token followed yet: 'n'), else 0; then whether the user is
-- still provisional, and whether this kept it for good.
local function remember(user, now, expire)
  if redis.call('HSETNX', user, 'c', now) == 1 then return 1, false, false end
  local x, n = unpack(redis.call('HMGET', user, 'x', 'n'))
  local deadline = tonumber(x)
  local kept = deadline ~= nil and keep(user, deadline, expire) == 1
  local provisional = deadline ~= nil and not kept
  if n then
    redis.call('HDEL', user, 'n')
    return 1, provisional, kept
  end
  return 0, provisional, kept
end

-- A user's auth hash holds its tokens and what guards them: a token's
-- field is its digest (base64url), its value 'id|kind|expire|low|provisional'
-- (low: a guessable secret; provisional: issued while the user was); the
-- fields starting with '!' are the failure streak ('!f': 'count|until'),
-- the lock of guessable secrets ('!l': until) and each client's failed
-- exchanges ('!c:<client>': 'count|until'). Each ends at its own time; the
-- hash expires with the last of them.
local function is_guard(field) return string.byte(field, 1) == 33 end

-- When a guard field ends.
local function guard_until(field, value)
  if field == '!l' then return tonumber(value) end
  return tonumber(string.match(value, '|(%d+)$'))
end

-- A live count|until guard's count, else 0.
local function guard_count(value, now)
  if not value then return 0 end
  local count, till = string.match(value, '^(%d+)|(%d+)$')
  if tonumber(till) > now then return tonumber(count) end
  return 0
end

-- Events written by the script itself (a standalone Redis store with
-- events on): KEYS[nk + 1] is the event stream, ARGV[na + 1] its length
-- bound, ARGV[na + 2] the oldest entry id kept (now - max age; empty when
-- no trim by age is due: the store trims at most once a second per process)
-- and ARGV[na + 3] the head of every event's stored JSON,
-- '{"u":"<user>","t":<now>'. nil when events are off (no such key).
local function events_of(nk, na)
  if #KEYS <= nk then return nil end
  return { stream = KEYS[nk + 1], max_len = ARGV[na + 1], min_id = ARGV[na + 2], head = ARGV[na + 3], n = 0 }
end

-- Appends one event (its stored JSON) to the stream.
local function emit(ev, json)
  if not ev then return end
  redis.call('XADD', ev.stream, 'MAXLEN', '~', ev.max_len, '*', 'd', json)
  ev.n = ev.n + 1
end

-- A session event, the session record embedded as the event's "r".
local function emit_session(ev, kind, record)
  if ev then emit(ev, ev.head .. ',"k":"' .. kind .. '","r":' .. record .. '}') end
end

-- Each record of { field, record, ... } (from index `from`) as a session
-- event, oldest first (by creation, then id), as the store answers them.
local function emit_sessions(ev, kind, list, from)
  if not ev then return end
  local records = {}
  for i = from, #list, 2 do
    local record = list[i + 1]
    table.insert(records, {
      record = record,
      created = tonumber(string.match(record, '"c":(%d+)')) or 0,
      id = string.match(record, '"i":"([^"]*)"') or '',
    })
  end
  table.sort(records, function(a, b)
    if a.created == b.created then return a.id < b.id end
    return a.created < b.created
  end)
  for _, s in ipairs(records) do emit_session(ev, kind, s.record) end
end

-- Trims the stream by age after the events of this change, when due.
local function emit_done(ev)
  if ev and ev.min_id ~= '' then redis.call('XTRIM', ev.stream, 'MINID', '~', ev.min_id) end
end
