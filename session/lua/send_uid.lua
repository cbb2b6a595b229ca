-- send_uid: publish an envelope to the inbox of every gateway that holds a client of a uid,
-- in one round trip (standalone and Sentinel; on Cluster the caller reads KEYS[1] and uses SPUBLISH).
-- KEYS[1] uid clients       {prefix}uid:{uid}
-- ARGV[1] prefix            e.g. "chat:"  (a client id is "<gateway>.<random>", or 20 lower-case
--                           hex digits of which the first 12 are the gateway: docs/redis-protocol.md)
-- ARGV[2] envelope (JSON)
-- Returns the number of gateways published to.
local function gateway_of(cid)
  if #cid == 20 and string.match(cid, '^[0-9a-f]+$') then return string.sub(cid, 1, 12) end
  return string.match(cid, '^([^.]+)%.')
end
local seen, n = {}, 0
for _, cid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local gw = gateway_of(cid)
  if gw and not seen[gw] then
    seen[gw] = true
    n = n + 1
    redis.call('PUBLISH', ARGV[1] .. 'gw:{' .. gw .. '}', ARGV[2])
  end
end
return n
