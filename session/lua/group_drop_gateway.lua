-- group_drop_gateway: remove from a group the members one gateway holds (group side of UngroupOnGateway).
-- KEYS[1] group members     {prefix}group:{gid}
-- KEYS[2] group gateways    {prefix}group:{gid}:gw
-- ARGV[1] gateway id
-- Returns {removed client ids, number of members left}. A client id names its gateway:
-- "<gateway>.<random>", or 20 lower-case hex digits of which the first 12 are the gateway.
local function gateway_of(cid)
  if #cid == 20 and string.match(cid, '^[0-9a-f]+$') then return string.sub(cid, 1, 12) end
  return string.match(cid, '^([^.]+)%.')
end
local removed = {}
for _, cid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if gateway_of(cid) == ARGV[1] then
    redis.call('SREM', KEYS[1], cid)
    removed[#removed + 1] = cid
  end
end
redis.call('HDEL', KEYS[2], ARGV[1])
return {removed, redis.call('SCARD', KEYS[1])}
