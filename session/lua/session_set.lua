-- session_set: replace a live client's app session fields (SetSession).
-- KEYS[1] client hash      {prefix}client:{cid}
-- ARGV    field1, value1, field2, value2, ...  (app fields never start with '_')
-- Returns 1, or 0 when the client does not exist. System fields (_gw, _uid, _ip, _at) are kept;
-- _php (the PHP-serialized copy a GatewayWorker client wrote) is replaced too, so it is dropped.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local fields = redis.call('HKEYS', KEYS[1])
for _, f in ipairs(fields) do
  if string.sub(f, 1, 1) ~= '_' or f == '_php' then redis.call('HDEL', KEYS[1], f) end
end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 1
