-- reap_lock: take or renew the crash-cleanup lock of a gateway, only while the gateway is dead.
-- KEYS[1] gateway liveness  {prefix}gw:{gwid}:alive
-- KEYS[2] reap lock         {prefix}gw:{gwid}:reap
-- ARGV[1] owner token (unique per reaper process)
-- ARGV[2] lock lifetime in milliseconds
-- Returns -1 when the gateway is alive (do not reap), 0 when another owner holds
-- the lock, 1 when the caller holds it now (taken or renewed).
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
