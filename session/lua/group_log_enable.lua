-- group_log_enable: make a group recoverable (create its log state with a fresh epoch when it has
-- none) and set its own limits (docs/redis-protocol.md, "Recoverable groups").
-- KEYS[1] log state  {prefix}group:{gid}:seq
-- ARGV[1] fresh epoch (a random string; kept when the group already has a log)
-- ARGV[2] entries kept ("" or 0: the senders' default)
-- ARGV[3] age kept, ms ("" or 0: the senders' default)
-- Returns {epoch, seq}.
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'seq', 0)
end
for i, f in ipairs({'max_len', 'max_age'}) do
  local v = tonumber(ARGV[i + 1])
  if v and v > 0 then redis.call('HSET', KEYS[1], f, v) else redis.call('HDEL', KEYS[1], f) end
end
local st = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
return {st[1], tonumber(st[2])}
