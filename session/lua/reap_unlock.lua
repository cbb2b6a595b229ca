-- reap_unlock: release a gateway's crash-cleanup lock if the caller still holds it.
-- KEYS[1] reap lock         {prefix}gw:{gwid}:reap
-- ARGV[1] owner token
-- Returns 1 when released, 0 when the lock was not the caller's (expired or taken over).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
