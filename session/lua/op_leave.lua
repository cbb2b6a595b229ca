-- op_leave: LeaveGroup in one atomic round trip, inbox publish included.
-- Standalone and Sentinel only: the keys span several Cluster slots (on Cluster,
-- run SREM, group_leave, SPUBLISH and drop-if-empty instead: docs/push-api.md).
-- KEYS[1] client groups     {prefix}client:{cid}:groups
-- KEYS[2] group members     {prefix}group:{gid}
-- KEYS[3] group gateways    {prefix}group:{gid}:gw
-- KEYS[4] groups index      {prefix}groups
-- ARGV[1] group id
-- ARGV[2] client id
-- ARGV[3] gateway id of that client
-- ARGV[4] inbox channel     {prefix}gw:{gateway}
-- ARGV[5] leave envelope (JSON) {"op":"leave","clients":[cid],"groups":[gid]}
-- Returns the number of members left; at 0 the group is dropped from the index.
-- Leaving a group one is not in still publishes (the gateway ignores it).
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SREM', KEYS[2], ARGV[2]) == 1 then
  if redis.call('HINCRBY', KEYS[3], ARGV[3], -1) <= 0 then
    redis.call('HDEL', KEYS[3], ARGV[3])
  end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
local left = redis.call('SCARD', KEYS[2])
if left == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
return left
