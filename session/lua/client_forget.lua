-- client_forget: delete a client's hash and groups set, returning what must be undone elsewhere.
-- KEYS[1] client hash      {prefix}client:{cid}
-- KEYS[2] client groups    {prefix}client:{cid}:groups
-- Returns {hash as a flat field/value array, group ids array}.
local hash = redis.call('HGETALL', KEYS[1])
local groups = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return {hash, groups}
