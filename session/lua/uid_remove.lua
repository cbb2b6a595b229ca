-- uid_remove: remove a client from a uid's set.
-- KEYS[1] uid clients      {prefix}uid:{uid}
-- ARGV[1] client id
-- Returns the number of clients left (the caller drops the uid from the uids set at 0).
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])
