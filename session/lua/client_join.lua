-- client_join: record that a live client is in a group (client side of JoinGroup).
-- KEYS[1] client hash      {prefix}client:{cid}
-- KEYS[2] client groups    {prefix}client:{cid}:groups
-- ARGV[1] group id
-- Returns 1, or 0 when the client does not exist (closed or never connected).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
