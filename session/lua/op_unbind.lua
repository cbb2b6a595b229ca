-- op_unbind: UnbindUid in one atomic round trip, inbox publish included.
-- Standalone and Sentinel only: the keys span several Cluster slots (on Cluster,
-- run client_unbind, uid_remove, SPUBLISH and drop-if-empty instead: docs/push-api.md).
-- KEYS[1] client hash       {prefix}client:{cid}
-- KEYS[2] uid clients       {prefix}uid:{uid}
-- KEYS[3] uids index        {prefix}uids
-- ARGV[1] uid
-- ARGV[2] client id
-- ARGV[3] inbox channel     {prefix}gw:{gateway}
-- ARGV[4] unbind envelope (JSON) {"op":"unbind","clients":[cid],"uids":[uid]}
-- Returns the number of clients the uid has left; at 0 the uid is dropped from
-- the index. Unbinding a client not bound to the uid still publishes (the
-- gateway ignores it).
if redis.call('HGET', KEYS[1], '_uid') == ARGV[1] then
  redis.call('HDEL', KEYS[1], '_uid')
end
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
local left = redis.call('SCARD', KEYS[2])
if left == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return left
