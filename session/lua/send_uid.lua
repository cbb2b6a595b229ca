-- send_uid: publish an envelope to the inbox of every gateway that holds a client of a uid,
-- in one round trip (standalone and Sentinel; on Cluster the caller reads KEYS[1] and uses SPUBLISH).
-- KEYS[1] uid clients       {prefix}uid:{uid}
-- ARGV[1] prefix            e.g. "chat:"  (a client id is "<gateway>.<random>")
-- ARGV[2] envelope (JSON)
-- Returns the number of gateways published to.
local seen, n = {}, 0
for _, cid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local gw = string.match(cid, '^([^.]+)%.')
  if gw and not seen[gw] then
    seen[gw] = true
    n = n + 1
    redis.call('PUBLISH', ARGV[1] .. 'gw:{' .. gw .. '}', ARGV[2])
  end
end
return n
