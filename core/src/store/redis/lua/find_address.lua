-- KEYS[1] address key. Returns { owner, ms left (-1: for good) } or nil. A
-- binding lives until its user is deleted, or, while that user is
-- provisional (an anonymous flow's, not yet signed in), until the user's
-- record expires.
local owner = redis.call('GET', KEYS[1])
if not owner then return nil end
return { owner, redis.call('PTTL', KEYS[1]) }
