-- op_join: JoinGroup in one atomic round trip, inbox publish included.
-- Standalone and Sentinel only: the keys span several Cluster slots (on Cluster,
-- run client_join, group_join, SADD and SPUBLISH instead: docs/push-api.md).
-- KEYS[1] client hash       {prefix}client:{cid}
-- KEYS[2] client groups     {prefix}client:{cid}:groups
-- KEYS[3] group members     {prefix}group:{gid}
-- KEYS[4] group gateways    {prefix}group:{gid}:gw   (hash: gateway id -> members held there)
-- KEYS[5] groups index      {prefix}groups
-- ARGV[1] group id
-- ARGV[2] client id
-- ARGV[3] gateway id of that client
-- ARGV[4] inbox channel     {prefix}gw:{gateway}
-- ARGV[5] join envelope (JSON) {"op":"join","clients":[cid],"groups":[gid]}
-- Returns 1, or 0 when the client does not exist (nothing is written or published).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('SADD', KEYS[3], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
end
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
