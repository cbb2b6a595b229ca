-- group_dissolve: delete a group, returning who was in it (Ungroup).
-- KEYS[1] group members     {prefix}group:{gid}
-- KEYS[2] group gateways    {prefix}group:{gid}:gw
-- Returns {members, gateways}: two arrays.
local members = redis.call('SMEMBERS', KEYS[1])
local gws = redis.call('HKEYS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return {members, gws}
