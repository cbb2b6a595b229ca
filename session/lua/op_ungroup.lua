-- op_ungroup: Ungroup in one atomic round trip, inbox publishes included.
-- Standalone and Sentinel only: it also writes keys it cannot declare (each
-- member's groups set, named from ARGV[2]), which Cluster forbids (on Cluster,
-- run group_dissolve, SREM per member, SPUBLISH per gateway and drop-if-empty
-- instead: docs/push-api.md).
-- KEYS[1] group members     {prefix}group:{gid}
-- KEYS[2] group gateways    {prefix}group:{gid}:gw
-- KEYS[3] groups index      {prefix}groups
-- ARGV[1] group id
-- ARGV[2] prefix            e.g. "chat:"  (member groups set = prefix .. "client:{" .. cid .. "}:groups",
--                           inbox channel = prefix .. "gw:{" .. gateway .. "}")
-- ARGV[3] ungroup envelope (JSON) {"op":"ungroup","groups":[gid]}
-- Returns the number of gateways published to.
local members = redis.call('SMEMBERS', KEYS[1])
local gws = redis.call('HKEYS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
for _, cid in ipairs(members) do
  redis.call('SREM', ARGV[2] .. 'client:{' .. cid .. '}:groups', ARGV[1])
end
for _, gw in ipairs(gws) do
  redis.call('PUBLISH', ARGV[2] .. 'gw:{' .. gw .. '}', ARGV[3])
end
redis.call('SREM', KEYS[3], ARGV[1])
return #gws
