-- client_bind: set the uid of a live client (client side of BindUid).
-- KEYS[1] client hash      {prefix}client:{cid}
-- ARGV[1] uid
-- Returns {1, previous uid or ""}, or {0, ""} when the client does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end
local old = redis.call('HGET', KEYS[1], '_uid') or ''
redis.call('HSET', KEYS[1], '_uid', ARGV[1])
return {1, old}
