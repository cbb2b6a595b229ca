-- op_bind: BindUid in one atomic round trip, inbox publish included. A client
-- bound to another uid is moved: it leaves that uid's set, and the uid leaves
-- the index when its set empties.
-- Standalone and Sentinel only: the keys span several Cluster slots, and the
-- previous uid's set (named from ARGV[3]) cannot be declared (on Cluster, run
-- client_bind, SADD, uid_remove, SPUBLISH and drop-if-empty instead: docs/push-api.md).
-- KEYS[1] client hash       {prefix}client:{cid}
-- KEYS[2] uid clients       {prefix}uid:{uid}
-- KEYS[3] uids index        {prefix}uids
-- ARGV[1] uid
-- ARGV[2] client id
-- ARGV[3] prefix            e.g. "chat:"  (previous uid's set = prefix .. "uid:{" .. old .. "}")
-- ARGV[4] inbox channel     {prefix}gw:{gateway}
-- ARGV[5] bind envelope (JSON) {"op":"bind","clients":[cid],"uids":[uid]}
-- Returns 1, or 0 when the client does not exist (nothing is written or published).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], '_uid') or ''
redis.call('HSET', KEYS[1], '_uid', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
if old ~= '' and old ~= ARGV[1] then
  local oldKey = ARGV[3] .. 'uid:{' .. old .. '}'
  redis.call('SREM', oldKey, ARGV[2])
  if redis.call('SCARD', oldKey) == 0 then redis.call('SREM', KEYS[3], old) end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
