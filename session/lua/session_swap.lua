-- session_swap: replace a live client's session if it is still the one the caller read (ReplaceSessionIf).
-- KEYS[1] client hash       {prefix}client:{cid}
-- ARGV[1] expected _php value ("" when absent)
-- ARGV[2] n, the number of expected app fields
-- ARGV[3 .. 2+2n] expected app fields and values
-- ARGV[3+2n] new _php value ("" removes it)
-- ARGV[4+2n ..] new app fields and values  (app fields never start with '_')
-- Returns 1 when replaced, 0 when the client does not exist, -1 when its session is not the
-- expected one (nothing is written). System fields (_gw, _uid, _ip, _at) are kept.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGETALL', KEYS[1])
local have, count, ser = {}, 0, ''
for i = 1, #cur, 2 do
  local f = cur[i]
  if f == '_php' then
    ser = cur[i + 1]
  elseif string.sub(f, 1, 1) ~= '_' then
    have[f] = cur[i + 1]
    count = count + 1
  end
end
local n = tonumber(ARGV[2])
if ser ~= ARGV[1] or n ~= count then return -1 end
for i = 3, 2 + 2 * n, 2 do
  if have[ARGV[i]] ~= ARGV[i + 1] then return -1 end
end
for f in pairs(have) do redis.call('HDEL', KEYS[1], f) end
local base = 3 + 2 * n
if ARGV[base] ~= '' then
  redis.call('HSET', KEYS[1], '_php', ARGV[base])
else
  redis.call('HDEL', KEYS[1], '_php')
end
if #ARGV > base then redis.call('HSET', KEYS[1], unpack(ARGV, base + 1)) end
return 1
