-- send_group: publish an envelope to the inbox of every gateway that holds a member of a group,
-- in one round trip (standalone and Sentinel; on Cluster the caller reads KEYS[1] and uses SPUBLISH).
-- KEYS[1] group gateways    {prefix}group:{gid}:gw
-- ARGV[1] prefix            e.g. "chat:"  (inbox channel = prefix .. "gw:{" .. gateway .. "}")
-- ARGV[2] envelope (JSON)
-- Returns the number of gateways published to.
local gws = redis.call('HKEYS', KEYS[1])
for _, gw in ipairs(gws) do
  redis.call('PUBLISH', ARGV[1] .. 'gw:{' .. gw .. '}', ARGV[2])
end
return #gws
