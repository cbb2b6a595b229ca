-- token_record: remember a connect token id issued to a login session, unless it logged out.
-- KEYS[1] token ids       {prefix}tokens:{sid}
-- KEYS[2] logout marker   {prefix}logout:{sid}
-- ARGV[1] token id (jti)
-- ARGV[2] token lifetime in milliseconds (the set lives as long as its newest token)
-- Returns 1 when recorded, 0 when the session logged out (issue no token: logout
-- already read the set and would not revoke it).
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
