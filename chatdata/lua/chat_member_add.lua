-- chat_member_add: mark a uid as announced present in a room unless the room is gone
-- (MarkPresent), so a bind racing the room's deletion cannot bring its members set back.
-- KEYS[1] room hash        {prefix}room:{id}
-- KEYS[2] room members     {prefix}members:{id}
-- ARGV[1] uid
-- Returns 1 when added, 0 when already there, -1 when the room does not exist (nothing written).
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('SADD', KEYS[2], ARGV[1])
