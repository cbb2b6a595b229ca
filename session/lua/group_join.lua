-- group_join: add a client to a group and count it for its gateway (group side of JoinGroup).
-- KEYS[1] group members     {prefix}group:{gid}
-- KEYS[2] group gateways    {prefix}group:{gid}:gw   (hash: gateway id -> members held there)
-- ARGV[1] client id
-- ARGV[2] gateway id of that client
-- Returns 1 when the client was added, 0 when it was already a member.
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  return 1
end
return 0
