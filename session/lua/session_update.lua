-- session_update: merge fields into a live client's app session (UpdateSession).
-- KEYS[1] client hash      {prefix}client:{cid}
-- ARGV    field1, value1, field2, value2, ...  (app fields never start with '_')
-- Returns 1, or 0 when the client does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 1
