-- login_save: store a login session unless it logged out (KVStorage.Set of LoginStorage).
-- KEYS[1] login session   {prefix}login:{sid}
-- KEYS[2] logout marker   {prefix}logout:{sid}
-- ARGV[1] session data
-- ARGV[2] lifetime in milliseconds; 0: no expiry
-- Returns 1 when stored, 0 when the session logged out (a request that loaded it
-- before the logout must not bring it back).
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
