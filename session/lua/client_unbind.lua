-- client_unbind: clear the uid of a client if it is ARGV[1] (client side of UnbindUid).
-- KEYS[1] client hash      {prefix}client:{cid}
-- ARGV[1] uid
-- Returns 1 when the binding was removed, 0 when the client was not bound to that uid.
if redis.call('HGET', KEYS[1], '_uid') == ARGV[1] then
  redis.call('HDEL', KEYS[1], '_uid')
  return 1
end
return 0
