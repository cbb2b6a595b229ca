-- group_leave: remove a client from a group and uncount it for its gateway.
-- KEYS[1] group members     {prefix}group:{gid}
-- KEYS[2] group gateways    {prefix}group:{gid}:gw
-- ARGV[1] client id
-- ARGV[2] gateway id of that client
-- Returns the number of members left (the caller drops the group from the
-- groups set when it reaches 0).
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[2])
  end
end
return redis.call('SCARD', KEYS[1])
