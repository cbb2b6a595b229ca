-- chat_history_append: append a public message to a room's history, capped, unless the room
-- is gone (AppendHistory), so a message racing the room's deletion cannot bring its history back.
-- KEYS[1] room hash        {prefix}room:{id}
-- KEYS[2] room history     {prefix}history:{id}
-- ARGV[1] message (JSON, as pushed)
-- ARGV[2] entries kept (1 or more)
-- Returns 1, or 0 when the room does not exist (nothing written).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return 1
