-- send_group_log: send to a group through its recovery log (docs/redis-protocol.md, "Recoverable
-- groups"). When the group has a log (KEYS[2] exists), or ARGV[5] is "1" (create it, with a fresh
-- epoch), the payload (a JSON object) gets the group, its next seq and the epoch appended, is stored
-- in the capped log and published, all in one step: the log holds the exact bytes delivered, and seq
-- order is publish order. Otherwise the payload is published unchanged, as send_group.lua does.
-- KEYS[1] group gateways  {prefix}group:{gid}:gw
-- KEYS[2] log state       {prefix}group:{gid}:seq  (hash: seq, epoch, optional max_len, max_age)
-- KEYS[3] log             {prefix}group:{gid}:log  (list of "seq ms payload", oldest first)
-- ARGV[1] prefix          e.g. "chat:"  (inbox channel = prefix .. "gw:{" .. gateway .. "}")
-- ARGV[2] envelope head   the envelope JSON without payload, seq, epoch and without its closing brace
-- ARGV[3] payload         the frame to deliver (a JSON object when logged)
-- ARGV[4] group id
-- ARGV[5] "1": create the log when missing; "0": log only when it exists
-- ARGV[6] entries kept (default; the state hash's max_len wins)
-- ARGV[7] age kept, ms (default; the state hash's max_age wins)
-- ARGV[8] fresh epoch     used only when the log is created (a random string)
-- ARGV[9] "1": publish to each gateway here (standalone, Sentinel); "0": the caller publishes (Cluster)
-- Returns {seq, epoch, envelope, gateway ids...}; seq 0 and epoch "" when the send was not logged.
local gws = redis.call('HKEYS', KEYS[1])
local payload = ARGV[3]
local seq, epoch = 0, ''
local state = redis.call('HMGET', KEYS[2], 'epoch', 'max_len', 'max_age')
if state[1] or ARGV[5] == '1' then
  local ok, obj = pcall(cjson.decode, payload)
  if not ok or type(obj) ~= 'table' or not string.find(payload, '^%s*{') then
    return redis.error_reply('ERR chatgate: payload of a recoverable group must be a JSON object')
  end
  if obj['group'] ~= nil or obj['seq'] ~= nil or obj['epoch'] ~= nil then
    return redis.error_reply('ERR chatgate: payload of a recoverable group must not hold "group", "seq" or "epoch"')
  end
  epoch = state[1]
  if not epoch then
    epoch = ARGV[8]
    redis.call('HSET', KEYS[2], 'epoch', epoch, 'seq', 0)
    redis.call('DEL', KEYS[3])
  end
  seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  local body = string.match(payload, '^(.-)%s*}%s*$')
  local sep = ','
  if string.find(body, '^%s*{%s*$') then sep = '' end
  payload = body .. sep .. '"group":' .. cjson.encode(ARGV[4]) .. ',"seq":' .. seq .. ',"epoch":' .. cjson.encode(epoch) .. '}'
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('RPUSH', KEYS[3], seq .. ' ' .. now .. ' ' .. payload)
  redis.call('LTRIM', KEYS[3], -tonumber(state[2] or ARGV[6]), -1)
  redis.call('PEXPIRE', KEYS[3], tonumber(state[3] or ARGV[7]))
end
local env = ARGV[2] .. ',"payload":' .. cjson.encode(payload)
if seq > 0 then env = env .. ',"seq":' .. seq .. ',"epoch":' .. cjson.encode(epoch) end
env = env .. '}'
if ARGV[9] == '1' then
  for _, gw in ipairs(gws) do
    redis.call('PUBLISH', ARGV[1] .. 'gw:{' .. gw .. '}', env)
  end
end
local out = {seq, epoch, env}
for _, gw in ipairs(gws) do out[#out + 1] = gw end
return out
